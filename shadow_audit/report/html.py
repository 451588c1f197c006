"""One self-contained HTML file: verdict, tables, drifting paths, findings, trend (inline SVG).

Every value goes through Jinja2's autoescape; the SVG is built from numbers and
escaped labels only. Nothing is fetched from the network.
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

OPEN_FINDINGS = 20
_env = Environment(
    loader=PackageLoader("shadow_audit", "report/templates"),
    autoescape=select_autoescape(default=True, default_for_string=True),
    trim_blocks=True,
    lstrip_blocks=True,
)


def _pretty(value: Any) -> str:
    if isinstance(value, str):
        return value
    return json.dumps(value, indent=2, sort_keys=True, ensure_ascii=False, default=str)


def trend_svg(runs: tuple[Run, ...], width: int = 640, height: int = 160) -> Markup:
    """Parity (line) and findings per run (bars), oldest left; empty without history."""
    if not runs:
        return Markup("")
    pad, n = 30, len(runs)
    step = (width - 2 * pad) / max(n - 1, 1)
    most = max(r.findings for r in runs) or 1
    bars, points, dots = [], [], []
    for i, r in enumerate(runs):
        x = pad + i * step
        h = (height - 2 * pad) * r.findings / most
        bar_w = max(min(step * 0.6, 24), 2)
        colour = "#2e7d32" if r.status == "GREEN" else "#c62828"
        title = escape(
            f"run {r.id} {r.finished_at}: {r.status}, {r.findings} findings, parity {r.parity:.4f}"
        )
        bars.append(
            f'<rect x="{x - bar_w / 2:.1f}" y="{height - pad - h:.1f}" width="{bar_w:.1f}" '
            f'height="{h:.1f}" fill="{colour}" opacity="0.35"><title>{title}</title></rect>'
        )
        y = pad + (height - 2 * pad) * (1 - r.parity)
        points.append(f"{x:.1f},{y:.1f}")
        dots.append(
            f'<circle cx="{x:.1f}" cy="{y:.1f}" r="3" fill="{colour}">'
            f"<title>{title}</title></circle>"
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
        + f'<polyline fill="none" stroke="#1565c0" stroke-width="2" points="{" ".join(points)}"/>'
        + "".join(dots)
        + "</svg>"
    )
    return Markup(svg)  # noqa: S704 - built from numbers and escaped labels only


def render_html(result: AuditResult, context: ReportContext | None = None) -> str:
    context = context or ReportContext()
    fields = Counter((f.entity, f.field) for f in result.findings if f.kind == "value_mismatch")
    return _env.get_template("report.html.j2").render(
        r=result,
        ctx=context,
        counts={k: v for k, v in result.counts().items() if v},
        parity=parity(result),
        fields=fields.most_common(),
        paths=top_paths(result, 15),
        findings=result.findings,
        open_findings=len(result.findings) <= OPEN_FINDINGS,
        pretty=_pretty,
        trend=trend_svg(context.trend),
    )
