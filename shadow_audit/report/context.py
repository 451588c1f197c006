"""What a renderer may know beyond the result itself: history (delta, trend) and the limits."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

from shadow_audit.engine.findings import AuditResult
from shadow_audit.report.history import Delta, Run

MAX_FINDINGS = 500  # shown in Markdown and HTML
JSON_FINDINGS = 10_000  # kept in report.json; every finding is in findings.jsonl.gz


@dataclass(frozen=True)
class ReportContext:
    """History-derived facts and the size limits for one report; empty without history."""

    run_id: int | None = None
    delta: Delta | None = None
    trend: tuple[Run, ...] = ()  # oldest first
    max_findings: int = MAX_FINDINGS
    json_findings: int = JSON_FINDINGS


def top_paths(result: AuditResult, limit: int = 10) -> list[tuple[str, str, int]]:
    """(entity, path, findings) for the JSON paths that drift most.

    An ``invalid_source`` finding's path is a file, not a place in a document, so it
    is left out: a folder of broken files must not read as a drifting field. So are
    findings without a path, and the rows of a document one store lacks altogether
    (a deleted workspace is one fact, not drift of its key paths).

    Args:
        result: the audit.
        limit: how many paths.

    Returns:
        Up to ``limit`` triples, most findings first.
    """
    from shadow_audit.report.view import document_of, one_sided_documents

    whole = one_sided_documents(result.findings)
    counts = Counter(
        (f.entity, f.path)
        for f in result.findings
        if f.path and f.kind != "invalid_source" and document_of(f) not in whole
    )
    return [(e, p, n) for (e, p), n in counts.most_common(limit)]
