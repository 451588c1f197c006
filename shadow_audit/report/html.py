"""One self-contained HTML file: verdict, tables, drifting paths, findings by document, trend.

Every value goes through Jinja2's autoescape; the SVG is built from numbers and
escaped labels only; the filter script is inline. Nothing is fetched from the
network. At most ``max_findings`` entries are shown, each value cut at
``VALUE_CHARS``, so the file stays a few megabytes whatever the findings count.
"""

from __future__ import annotations

import json
from collections import Counter
from typing import Any

from jinja2 import Environment, PackageLoader, select_autoescape
from markupsafe import Markup, escape

from shadow_audit.engine.findings import AuditResult
from shadow_audit.report.context import ReportContext, top_paths
from shadow_audit.report.history import Run, parity
from shadow_audit.report.markdown import mode_line
from shadow_audit.report.view import group_findings, reasons
from shadow_audit.text import visible

VALUE_CHARS = 2000
NAME_CHARS = 300  # keys, tables, fields, paths
_env = Environment(
    loader=PackageLoader("shadow_audit", "report/templates"),
    autoescape=select_autoescape(default=True, default_for_string=True),
    trim_blocks=True,
    lstrip_blocks=True,
)


def _pretty(value: Any) -> str:
    text = (
        value
        if isinstance(value, str)
        else json.dumps(value, indent=2, sort_keys=True, ensure_ascii=False, default=str)
    )
    if len(text) > VALUE_CHARS:
        return f"{text[:VALUE_CHARS]}… ({len(text) - VALUE_CHARS} more characters in report.json)"
    return text


def _visible(value: Any) -> str:
    text = "" if value is None else visible(str(value))
    return text if len(text) <= NAME_CHARS else text[: NAME_CHARS - 1] + "…"


def trend_svg(runs: tuple[Run, ...], width: int = 640, height: int = 160) -> Markup:
    """Parity (line) and findings per run (bars), oldest left; empty without history.

    One run is one point in the middle: a single bar would read as a histogram.

    Args:
        runs: the runs to draw, oldest first.
        width: the SVG's width in user units.
        height: its height.

    Returns:
        Inline SVG markup (empty when there are no runs).
    """
    if not runs:
        return Markup("")
    pad, n = 30, len(runs)
    step = (width - 2 * pad) / max(n - 1, 1)
    most = max(r.findings for r in runs) or 1
    bars, points, dots = [], [], []
    for i, r in enumerate(runs):
        x = pad + i * step if n > 1 else width / 2
        colour = "#2e7d32" if r.status == "GREEN" else "#c62828"
        title = escape(
            f"run {r.id} {r.finished_at}: {r.status}, {r.findings} findings, parity {r.parity:.4f}"
        )
        if n > 1:
            h = (height - 2 * pad) * r.findings / most
            bar_w = max(min(step * 0.6, 24), 2)
            bars.append(
                f'<rect x="{x - bar_w / 2:.1f}" y="{height - pad - h:.1f}" width="{bar_w:.1f}" '
                f'height="{h:.1f}" fill="{colour}" opacity="0.35"><title>{title}</title></rect>'
            )
        y = pad + (height - 2 * pad) * (1 - r.parity)
        points.append(f"{x:.1f},{y:.1f}")
        dots.append(
            f'<circle cx="{x:.1f}" cy="{y:.1f}" r="{3 if n > 1 else 5}" fill="{colour}">'
            f"<title>{title}</title></circle>"
        )
    line = (
        f'<polyline fill="none" stroke="#1565c0" stroke-width="2" points="{" ".join(points)}"/>'
        if n > 1
        else f'<text x="{width / 2 + 10:.1f}" y="{float(points[0].split(",")[1]) + 4:.1f}" '
        f'font-size="11">one run: {runs[0].findings} findings, parity {runs[0].parity:.4f}</text>'
    )
    svg = (
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" role="img" '
        f'aria-label="parity and findings over the last {n} runs" class="trend">'
        f'<line x1="{pad}" y1="{pad}" x2="{width - pad}" y2="{pad}" stroke="#ccc"/>'
        f'<text x="2" y="{pad + 4}" font-size="10">100%</text>'
        f'<line x1="{pad}" y1="{height - pad}" x2="{width - pad}" y2="{height - pad}" '
        'stroke="#ccc"/>'
        f'<text x="2" y="{height - pad + 4}" font-size="10">0%</text>'
        + "".join(bars)
        + line
        + "".join(dots)
        + "</svg>"
    )
    return Markup(svg)  # noqa: S704 - built from numbers and escaped labels only


def render_html(result: AuditResult, context: ReportContext | None = None) -> str:
    """The report as one HTML file with client-side filters by kind, table and key.

    Args:
        result: the audit.
        context: run id, delta, trend and ``max_findings`` (default: none, 500).

    Returns:
        The HTML document.
    """
    context = context or ReportContext()
    fields = Counter((f.entity, f.field) for f in result.findings if f.kind == "value_mismatch")
    view = group_findings(result.findings, limit=context.max_findings)
    kinds = sorted({f.kind for g in view.groups for f in g.findings} | {
        "extra_in_shadow" if g.one_sided == "only in the shadow" else "missing_in_shadow"
        for g in view.groups if g.one_sided
    })  # fmt: skip
    tables = sorted(
        {f.entity for g in view.groups for f in g.findings}
        | {t for g in view.groups for t, _ in g.tables}
    )
    return _env.get_template("report.html.j2").render(
        r=result,
        ctx=context,
        counts={k: v for k, v in result.counts().items() if v},
        parity=parity(result),
        fields=fields.most_common(),
        paths=top_paths(result, 15),
        view=view,
        kinds=kinds,
        tables=tables,
        ignored=result.ignored[: context.max_findings],
        pretty=_pretty,
        v=_visible,
        reasons=reasons,
        trend=trend_svg(context.trend),
        mode_line=mode_line,
    )
