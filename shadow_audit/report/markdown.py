"""Markdown for CI job summaries and pull-request comments."""

from __future__ import annotations

from typing import Any

from shadow_audit.engine.findings import AuditResult
from shadow_audit.report.context import ReportContext, top_paths

MAX_FINDINGS = 20


def _cell(value: Any, limit: int = 60) -> str:
    text = "" if value is None else str(value)
    text = text.replace("|", "\\|").replace("\n", " ").replace("`", "'")
    text = text.replace("<", "&lt;").replace(">", "&gt;")
    return text if len(text) <= limit else text[: limit - 1] + "…"


def render_markdown(result: AuditResult, context: ReportContext | None = None) -> str:
    context = context or ReportContext()
    icon = "✅" if result.status == "GREEN" else "❌"
    lines = [
        f"# {icon} shadow-audit: {result.status}",
        "",
        f"- source: `{result.source}` ({result.documents} documents)",
        f"- shadow: `{result.shadow}`",
        f"- finished: {result.finished_at}",
    ]
    if context.run_id is not None:
        lines.append(f"- run: {context.run_id}")
    counts = {k: v for k, v in result.counts().items() if v}
    lines += ["", "## Findings", ""]
    if counts:
        lines += ["| kind | count |", "|---|---:|"] + [f"| {k} | {v} |" for k, v in counts.items()]
    else:
        lines.append("No findings.")
    if result.ignored:
        lines.append(f"\n{len(result.ignored)} findings ignored by active rules.")
    lines += [
        "",
        "## Tables",
        "",
        "| table | source rows | shadow rows | matched | mismatched | missing | extra |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for name, s in result.summary.items():
        lines.append(
            f"| {name} | {s.source_rows} | {s.shadow_rows} | {s.matched} | {s.mismatched} "
            f"| {s.missing_in_shadow} | {s.extra_in_shadow} |"
        )
    if context.delta is not None and context.delta.previous_run is not None:
        d = context.delta
        lines += [
            "",
            f"## Since run {d.previous_run}",
            "",
            f"{len(d.new)} new, {len(d.persisting)} persisting, {len(d.resolved)} resolved.",
        ]
    paths = top_paths(result)
    if paths:
        lines += [
            "",
            "## Paths that drift most",
            "",
            "| table | path | findings |",
            "|---|---|---:|",
        ]
        lines += [f"| {e} | `{_cell(p)}` | {n} |" for e, p, n in paths]
    if result.findings:
        shown = result.findings[:MAX_FINDINGS]
        lines += [
            "",
            f"## First {len(shown)} of {len(result.findings)} findings",
            "",
            "| kind | table | key | field | source | shadow |",
            "|---|---|---|---|---|---|",
        ]
        lines += [
            f"| {f.kind} | {f.entity} | `{_cell(f.key)}` | {_cell(f.field)} "
            f"| {_cell(f.source_value)} | {_cell(f.shadow_value)} |"
            for f in shown
        ]
    cov = result.coverage
    lines += ["", "## Coverage", ""]
    if cov.complete:
        lines.append("Every source path has a column.")
    if cov.kept_as_extra:
        lines.append(
            "Kept as extra JSON: "
            + ", ".join(f"`{p['path']}` ({p['column']})" for p in cov.kept_as_extra)
        )
    else:
        if cov.lost_paths:
            lines.append(
                "Paths the shadow cannot hold: " + ", ".join(f"`{p}`" for p in cov.lost_paths)
            )
        if cov.missing_tables:
            lines.append("Tables missing: " + ", ".join(f"`{t}`" for t in cov.missing_tables))
    return "\n".join(lines) + "\n"
