"""assert_parity: the audit as one assertion, with a message that fits on a screen."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from datetime import date
from pathlib import Path
from typing import Any

from shadow_audit.config import Config, IgnoreRule, apply_tolerances, load_config
from shadow_audit.engine.findings import AuditResult
from shadow_audit.engine.run import audit
from shadow_audit.mapping import DocumentMap
from shadow_audit.report.context import top_paths
from shadow_audit.text import visible

SHOWN = 5
REASONS = 3
WIDTH = 70


def _cut(text: str, width: int = WIDTH) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


def _short(value: Any, width: int = WIDTH) -> str:
    return _cut(repr(value), width)


def _reasons(detail: Any) -> list[str]:
    """An invalid_source finding's reasons, one line each, control characters visible."""
    reasons = detail if isinstance(detail, list | tuple) else [detail]
    lines = [f"    {_cut(visible(str(r)))}" for r in reasons[:REASONS]]
    if len(reasons) > REASONS:
        lines.append(f"    ... and {len(reasons) - REASONS} more reasons")
    return lines


def _within(path: str, root: str) -> str:
    """A document's path relative to the source folder, when it is inside it."""
    try:
        return str(Path(path).relative_to(root))
    except ValueError:
        return path


def _rule(item: IgnoreRule | str) -> IgnoreRule:
    if isinstance(item, IgnoreRule):
        return item
    entity, _, path = item.partition(":")
    return IgnoreRule(entity=entity or "*", path=path or "*", reason="assert_parity(ignore=...)",
                      expires=date.max)  # fmt: skip


def build_config(
    mapping: DocumentMap | Config | str | Path | None = None,
    *,
    ignore: Iterable[IgnoreRule | str] = (),
    tolerance: float | dict[str, dict[str, float]] | None = None,
) -> Config:
    """A Config from what a test has at hand: a DocumentMap, a Config, or a TOML path.

    Args:
        mapping: a ``Config`` (used as it is), a ``DocumentMap`` (default settings),
            a path to a TOML config, or None for the built-in profile.
        ignore: extra ignore rules: ``IgnoreRule`` objects or ``"entity:path"``
            patterns (fnmatch; an empty side matches everything), never expiring.
        tolerance: an absolute tolerance for every REAL column, or
            ``{"table.column": {"abs": ..., "rel": ...}}``.

    Returns:
        The config, with the tolerances applied and the rules added.

    Raises:
        ConfigError: the TOML file is unreadable or malformed, or a tolerance names a
            table or column the mapping lacks.
    """
    if isinstance(mapping, Config):
        config = mapping
    elif isinstance(mapping, DocumentMap):
        config = Config(mapping=mapping)
    else:
        config = load_config(mapping)
    if tolerance is not None:
        config = dataclasses.replace(config, mapping=_tolerant(config.mapping, tolerance))
    rules = tuple(_rule(i) for i in ignore)
    return dataclasses.replace(config, ignore=config.ignore + rules)


def _tolerant(mapping: DocumentMap, tolerance: float | dict[str, dict[str, float]]) -> DocumentMap:
    if isinstance(tolerance, int | float):
        spec = {
            f"{e.table}.{f.column}": {"abs": float(tolerance)}
            for e in mapping.entities
            for f in e.fields
            if f.type == "real"
        }
        return apply_tolerances(mapping, spec)
    return apply_tolerances(mapping, tolerance)


def parity_message(result: AuditResult) -> str:
    """The failure message of ``assert_parity``, short enough for a terminal.

    Args:
        result: an audit that is not GREEN.

    Returns:
        Counts per kind, the paths that drift most, then the first findings: values
        and the diff for a mismatch, the reasons for an invalid source document.
    """
    counts = ", ".join(f"{n} {kind}" for kind, n in result.counts().items() if n)
    lines = [
        f"shadow parity failed: {counts or 'coverage incomplete'} ({result.documents} documents)"
    ]
    paths = top_paths(result, 3)
    if paths:
        lines.append("top paths: " + ", ".join(f"{e}.{p} ({n})" for e, p, n in paths))
    for f in result.findings[:SHOWN]:
        where = f"{f.entity} {visible(f.key)}" + (f" {f.field}" if f.field else "")
        if f.kind == "invalid_source" and f.path:
            where = f"{visible(_within(f.path, result.source))} ({f.entity} {visible(f.key)})"
        lines.append(f"- {f.kind}: {where}")
        if f.kind == "value_mismatch":
            lines.append(f"    source: {_short(f.source_value)}")
            lines.append(f"    shadow: {_short(f.shadow_value)}")
            if f.detail and not isinstance(f.detail, str):
                first = next(iter(f.detail.items()), None)
                if first:
                    lines.append(f"    diff:   {first[0]} {_short(first[1], WIDTH - 8)}")
        elif f.kind == "invalid_source":
            lines.extend(_reasons(f.detail))
    if len(result.findings) > SHOWN:
        lines.append(f"... and {len(result.findings) - SHOWN} more findings")
    if result.coverage.missing_tables:
        lines.append("missing tables: " + ", ".join(result.coverage.missing_tables))
    return "\n".join(lines)


def assert_parity(
    source: str | Path,
    shadow: str | Path,
    *,
    mapping: DocumentMap | Config | str | Path | None = None,
    ignore: Iterable[IgnoreRule | str] = (),
    tolerance: float | dict[str, dict[str, float]] | None = None,
) -> AuditResult:
    """Audit ``source`` against ``shadow``; raise AssertionError unless GREEN.

    Args:
        source: the JSON store folder.
        shadow: the SQLite database (opened read-only).
        mapping: a ``Config``, a ``DocumentMap``, a TOML config path, or None for the
            built-in profile.
        ignore: ``IgnoreRule`` objects or ``"entity:path"`` patterns to list apart.
        tolerance: an absolute tolerance for every REAL column, or
            ``{"table.column": {"abs": ..., "rel": ...}}``.

    Returns:
        The audit's result (GREEN), for further checks.

    Raises:
        AssertionError: the audit is RED; the message is ``parity_message(result)``.
        ShadowAuditError: a store or the config cannot be read (ConfigError,
            SourceError, DatabaseError).
    """
    result = audit(source, shadow, config=build_config(mapping, ignore=ignore, tolerance=tolerance))
    if result.status != "GREEN":
        raise AssertionError(parity_message(result))
    return result
