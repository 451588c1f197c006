"""Ignore rules applied to findings: which finding a rule matches, and the split they make."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date
from fnmatch import fnmatchcase

from shadow_audit.config import IgnoreRule
from shadow_audit.engine.findings import Finding, IgnoredFinding


def rule_matches(rule: IgnoreRule, finding: Finding) -> bool:
    """Return whether every pattern of ``rule`` (shell-style) matches ``finding``.

    Args:
        rule: the rule; each of entity, path, kind and key is a glob, ``*`` by default.
        finding: one finding of an audit.

    Returns:
        True when entity, path (empty for findings without one), kind and key all match.
    """
    return (
        fnmatchcase(finding.entity, rule.entity)
        and fnmatchcase(finding.path or "", rule.path)
        and fnmatchcase(finding.kind, rule.kind)
        and fnmatchcase(finding.key, rule.key)
    )


def apply_rules(
    findings: Iterable[Finding], rules: tuple[IgnoreRule, ...], today: date
) -> tuple[list[Finding], list[IgnoredFinding]]:
    """Split findings into those that count and those an active rule lists apart.

    Args:
        findings: the audit's findings, in report order.
        rules: every configured rule; the expired ones match nothing.
        today: the date the rules are judged on (UTC).

    Returns:
        (active findings, ignored findings with the rule that matched), order kept.
    """
    live = [r for r in rules if r.active(today)]
    if not live:
        return list(findings), []
    active: list[Finding] = []
    ignored: list[IgnoredFinding] = []
    for f in findings:
        rule = next((r for r in live if rule_matches(r, f)), None)
        if rule is None:
            active.append(f)
        else:
            ignored.append(IgnoredFinding(f, rule.name, rule.reason, rule.expires.isoformat()))
    return active, ignored
