"""Findings as a person reads them: grouped by document, value mismatches first, at most N shown.

A document that exists on one side only is one group ("only in the shadow: 19 rows
in 5 tables"), not a line per row in front of the real mismatches. Markdown and
HTML render this view; report.json and findings.jsonl.gz keep every finding.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import Any

from shadow_audit.engine.findings import Finding
from shadow_audit.report.context import MAX_FINDINGS
from shadow_audit.text import natural_key, plural, visible

# Which findings a reader needs first: the values that differ, then what cannot be
# compared, then whole rows on one side.
PRIORITY = {
    "value_mismatch": 0,
    "invalid_source": 1,
    "duplicate_key": 2,
    "missing_in_shadow": 3,
    "extra_in_shadow": 4,
    "unstable": 5,  # not drift: a unit that kept changing while the audit re-checked it
}
_ONE_SIDED = {"extra_in_shadow": "only in the shadow", "missing_in_shadow": "only in the source"}
_SIDE_KIND = {side: kind for kind, side in _ONE_SIDED.items()}
PER_DOCUMENT = 50


def document_of(finding: Finding) -> str:
    """The document a finding belongs to: its key up to the first ``/``.

    Args:
        finding: any finding.

    Returns:
        ``"proj-7"`` for the keys ``"proj-7"``, ``"proj-7/3"`` and ``"proj-7/payments"``.
    """
    return finding.key.split("/", 1)[0]


def priority(finding: Finding) -> int:
    """Sort rank of a finding's kind: value mismatches first, unknown kinds last.

    Args:
        finding: any finding.

    Returns:
        A small integer; lower comes first.
    """
    return _order(finding.kind)


def reading_order(finding: Finding) -> tuple[Any, ...]:
    """Sort key of findings as a person reads them: most telling kind first, then table,
    then key with its numbers in order (``proj/2`` before ``proj/10``), then field.

    report.json keeps the engine's order; every listing for people uses this one.

    Args:
        finding: any finding.

    Returns:
        A key for ``sorted``.
    """
    return (priority(finding), finding.entity, natural_key(finding.key), finding.field or "")


def kind_counts(findings: tuple[Finding, ...]) -> dict[str, int]:
    """Return how many findings of each kind there are, most telling kind first.

    Args:
        findings: the audit's findings.

    Returns:
        ``{kind: count}`` for the kinds present, value mismatches first (``PRIORITY``).
    """
    counts = Counter(f.kind for f in findings)
    return {kind: counts[kind] for kind in sorted(counts, key=_order)}


def _order(kind: str) -> int:
    return PRIORITY.get(kind, len(PRIORITY))


def reasons(finding: Finding) -> list[str]:
    """Why a source document is invalid (or a key duplicated), one line per reason.

    The reasons come from the document and are made visible (no control
    characters), so any face may print them: Markdown, HTML, JUnit, the pytest
    message, a terminal.

    Args:
        finding: an ``invalid_source`` or ``duplicate_key`` finding (others give ``[]``).

    Returns:
        The reasons as single-line strings, in the order the validator gave them.
    """
    if finding.kind not in ("invalid_source", "duplicate_key") or finding.detail is None:
        return []
    items: list[Any] = finding.detail if isinstance(finding.detail, list) else [finding.detail]
    return [visible(str(item)) for item in items]


@dataclass(frozen=True)
class DocumentGroup:
    """The findings of one document, or one line for a document held by one side only."""

    document: str
    findings: tuple[Finding, ...]  # the ones shown; empty for a one-sided group
    total: int  # every finding of the document
    one_sided: str | None = None  # "only in the shadow" | "only in the source"
    tables: tuple[tuple[str, int], ...] = ()  # rows per table (one-sided groups)

    @property
    def side_kind(self) -> str | None:
        """The kind a one-sided group stands for (``extra_in_shadow``...); None otherwise."""
        return _SIDE_KIND.get(self.one_sided or "")

    @property
    def headline(self) -> str:
        """E.g. ``only in the shadow: 19 rows in 5 tables`` or ``90 findings, 50 shown``."""
        if self.one_sided:
            tables = plural(len(self.tables), "table")
            return f"{self.one_sided}: {plural(self.total, 'row')} in {tables}"
        text = plural(self.total, "finding")
        return text if len(self.findings) == self.total else f"{text}, {len(self.findings):,} shown"


@dataclass(frozen=True)
class FindingsView:
    """What Markdown and HTML show: groups in reading order, and how much is left out."""

    groups: tuple[DocumentGroup, ...]
    total: int  # findings in the result
    shown: int  # findings the groups stand for (a one-sided group stands for all its rows)
    limit: int
    hidden_kinds: tuple[tuple[str, int], ...] = ()  # what is not shown, per kind

    @property
    def hidden(self) -> int:
        """Findings not shown (they are in report.json / findings.jsonl.gz)."""
        return self.total - self.shown

    @property
    def hidden_text(self) -> str:
        """``71,814 value_mismatch, 94 invalid_source``: what the hidden findings are."""
        return ", ".join(f"{n:,} {kind}" for kind, n in self.hidden_kinds)


def _rank(findings: list[Finding]) -> tuple[int, int]:
    best = min(priority(f) for f in findings)
    return best, -sum(1 for f in findings if priority(f) == best)


def group_findings(
    findings: tuple[Finding, ...], *, limit: int = MAX_FINDINGS, per_document: int = PER_DOCUMENT
) -> FindingsView:
    """Group findings by document, most telling first, keeping at most ``limit`` entries.

    A shown finding is one entry and so is a one-sided group, whatever its row count.
    Groups come in order of their most telling kind (value mismatches first; documents
    with more of them before fewer), then by document key (numbers by value); inside a
    group, findings come in ``reading_order``. One document shows at most
    ``per_document`` findings, so that one broken document cannot take the whole page.

    Args:
        findings: the audit's findings, in any order.
        limit: the most entries to show (at least 1).
        per_document: the most findings shown for one document (at least 1).

    Returns:
        The view; ``view.hidden`` findings were left out, ``view.hidden_kinds`` says which.
    """
    by_doc = _by_document(findings)
    order = sorted(by_doc, key=lambda d: (*_rank(by_doc[d]), natural_key(d)))
    groups: list[DocumentGroup] = []
    budget, shown = limit, 0
    for doc in order:
        if budget <= 0:
            break
        items = by_doc[doc]
        side = _one_side(items)
        if side is not None:
            tables = Counter(f.entity for f in items)
            groups.append(DocumentGroup(doc, (), len(items), side, tuple(sorted(tables.items()))))
            budget -= 1
            shown += len(items)
            continue
        ordered = tuple(sorted(items, key=reading_order)[: min(budget, per_document)])
        groups.append(DocumentGroup(doc, ordered, len(items)))
        budget -= len(ordered)
        shown += len(ordered)
    hidden = Counter(f.kind for f in findings)
    for group in groups:
        if group.one_sided:
            hidden[_SIDE_KIND[group.one_sided]] -= group.total
        hidden.subtract(f.kind for f in group.findings)
    left = tuple(sorted(((k, n) for k, n in hidden.items() if n > 0), key=lambda kn: _order(kn[0])))
    return FindingsView(tuple(groups), len(findings), shown, limit, left)


def _by_document(findings: tuple[Finding, ...]) -> dict[str, list[Finding]]:
    by_doc: dict[str, list[Finding]] = {}
    for f in findings:
        by_doc.setdefault(document_of(f), []).append(f)
    return by_doc


def _one_side(items: list[Finding]) -> str | None:
    """``only in the shadow`` / ``only in the source`` when one side holds the document
    itself (its root row) and every finding of it is that side's row; None otherwise."""
    kinds = {f.kind for f in items}
    side = _ONE_SIDED.get(next(iter(kinds))) if len(kinds) == 1 else None
    return side if side is not None and any("/" not in f.key for f in items) else None


def one_sided_documents(findings: tuple[Finding, ...]) -> set[str]:
    """Return the documents that one store holds and the other lacks altogether.

    Args:
        findings: the audit's findings.

    Returns:
        Their keys: a deleted workspace whose rows stay in the shadow, a document the
        shadow never got. Their rows are one fact each, not drift of their paths.
    """
    return {doc for doc, items in _by_document(findings).items() if _one_side(items)}
