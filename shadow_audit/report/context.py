"""What a renderer may know beyond the result itself: the delta and the trend from history."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

from shadow_audit.engine.findings import AuditResult
from shadow_audit.report.history import Delta, Run


@dataclass(frozen=True)
class ReportContext:
    """History-derived facts for one report; empty when there is no history."""

    run_id: int | None = None
    delta: Delta | None = None
    trend: tuple[Run, ...] = ()  # oldest first


def top_paths(result: AuditResult, limit: int = 10) -> list[tuple[str, str, int]]:
    """(entity, path, findings) for the paths that drift most."""
    counts = Counter((f.entity, f.path or "") for f in result.findings)
    return [(e, p, n) for (e, p), n in counts.most_common(limit)]
