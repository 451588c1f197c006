"""Prometheus textfile-collector metrics for the last run."""

from __future__ import annotations

from datetime import datetime

from shadow_audit.engine.findings import FINDING_KINDS, AuditResult
from shadow_audit.report.context import ReportContext
from shadow_audit.report.history import parity
from shadow_audit.text import visible


def _label(value: str) -> str:
    """A label value on one line: control characters made visible, ``\\`` and ``"`` escaped."""
    return visible(value).replace("\\", "\\\\").replace('"', '\\"')


def render_prometheus(result: AuditResult, context: ReportContext | None = None) -> str:
    """Render the audit as Prometheus text: findings by kind and entity, parity, status.

    Args:
        result: the audit's result.
        context: taken as every renderer takes it; the metrics do not use it.

    Returns:
        The metrics text.
    """
    entities = sorted({*result.summary, *(f.entity for f in result.findings)})
    counts = {(e, k): 0 for e in entities for k in FINDING_KINDS}
    for f in result.findings:
        counts[(f.entity, f.kind)] = counts.get((f.entity, f.kind), 0) + 1
    finished = datetime.fromisoformat(result.finished_at.replace("Z", "+00:00")).timestamp()
    out = [
        "# HELP shadow_audit_findings Findings of the last audit, by kind and entity.",
        "# TYPE shadow_audit_findings gauge",
    ]
    out += [
        f'shadow_audit_findings{{kind="{_label(k)}",entity="{_label(e)}"}} {n}'
        for (e, k), n in sorted(counts.items())
    ]
    out += [
        "# HELP shadow_audit_parity_ratio Matched rows over all rows either store holds.",
        "# TYPE shadow_audit_parity_ratio gauge",
        f"shadow_audit_parity_ratio {parity(result):.6f}",
    ]
    for name, s in sorted(result.summary.items()):
        total = s.matched + s.mismatched + s.missing_in_shadow + s.extra_in_shadow
        ratio = 1.0 if total == 0 else s.matched / total
        out.append(f'shadow_audit_parity_ratio{{entity="{_label(name)}"}} {ratio:.6f}')
    out += [
        "# HELP shadow_audit_green 1 when the last audit was GREEN, else 0.",
        "# TYPE shadow_audit_green gauge",
        f"shadow_audit_green {1 if result.status == 'GREEN' else 0}",
        "# HELP shadow_audit_ignored_findings Findings covered by active ignore rules.",
        "# TYPE shadow_audit_ignored_findings gauge",
        f"shadow_audit_ignored_findings {len(result.ignored)}",
        "# HELP shadow_audit_last_run_timestamp_seconds When the last audit finished.",
        "# TYPE shadow_audit_last_run_timestamp_seconds gauge",
        f"shadow_audit_last_run_timestamp_seconds {finished:.0f}",
    ]
    return "\n".join(out) + "\n"
