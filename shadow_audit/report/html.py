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
from shadow_audit.report.history import Run, parity, parity_text
from shadow_audit.report.markdown import mode_line
from shadow_audit.report.view import group_findings, kind_counts, reasons
from shadow_audit.text import plural, visible

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


def _telling(detail: Any) -> bool:
    """Whether a mismatch's diff says more than its two values, shown beside it, already do
    (a changed value at the root is the two values again; a changed type is not)."""
    if not detail:
        return False
    return not (isinstance(detail, dict) and set(detail) == {"values_changed"}
                and set(detail["values_changed"]) == {"root"})  # fmt: skip


def _visible(value: Any) -> str:
    text = "" if value is None else visible(str(value))
    return text if len(text) <= NAME_CHARS else text[: NAME_CHARS - 1] + "…"


def _when(stamp: str, chars: int = 16) -> str:
    """``2026-11-29T09:01:48.5Z`` as an axis label: ``2026-11-29 09:01`` (with ``chars=19``,
    to the second)."""
    return visible(stamp[:chars].replace("T", " "))


def trend_svg(runs: tuple[Run, ...], width: int = 640, height: int = 200) -> Markup:
    """Parity (line, left axis) and findings per run (bars, right axis), oldest left.

    The x axis is the runs in order, labelled with the time each finished (UTC); the y
    axes say what is plotted. One run is one point in the middle: a single bar would
    read as a histogram. Empty without history.

    Args:
        runs: the runs to draw, oldest first.
        width: the SVG's width in user units.
        height: its height.

    Returns:
        Inline SVG markup (empty when there are no runs).
    """
    if not runs:
        return Markup("")
    left, right, top, bottom = 58, 58, 12, 46
    plot_w, plot_h, n = width - left - right, height - top - bottom, len(runs)
    base = top + plot_h
    inset = 16 if n > 1 else 0  # the first and last bars stay clear of the axes
    step = (plot_w - 2 * inset) / max(n - 1, 1)
    most = max(r.findings for r in runs) or 1
    parts = [
        f'<line x1="{left}" y1="{top + plot_h * (1 - share):.1f}" x2="{width - right}" '
        f'y2="{top + plot_h * (1 - share):.1f}" stroke="{"#bbb" if share == 0 else "#eee"}"/>'
        f'<text x="{left - 6}" y="{top + plot_h * (1 - share) + 4:.1f}" font-size="10" '
        f'text-anchor="end">{label}</text>'
        for share, label in ((1.0, "100 %"), (0.5, "50 %"), (0.0, "0 %"))
    ]
    parts.append(
        f'<text transform="rotate(-90)" x="{-(top + plot_h / 2):.1f}" y="14" font-size="11" '
        'text-anchor="middle" fill="#1565c0">parity: rows that match</text>'
    )
    if n > 1:
        parts.append(
            f'<text x="{width - right + 6}" y="{top + 4}" font-size="10">{most}</text>'
            f'<text x="{width - right + 6}" y="{base + 4}" font-size="10">0</text>'
            f'<text transform="rotate(90)" x="{top + plot_h / 2:.1f}" y="{-(width - 14)}" '
            'font-size="11" text-anchor="middle" fill="#555">findings per run</text>'
        )
    parts.append(
        f'<text x="{left + plot_w / 2:.1f}" y="{height - 6}" font-size="11" '
        'text-anchor="middle">when each run finished (UTC)</text>'
    )
    bars, points, dots = [], [], []
    labelled = {0, n - 1, (n - 1) // 2} if n > 2 else set(range(n))
    minutes = {_when(runs[i].finished_at) for i in labelled}
    chars = 16 if len(minutes) == len(labelled) else 19  # runs within a minute: seconds
    for i, r in enumerate(runs):
        x = left + inset + i * step if n > 1 else width / 2
        colour = "#2e7d32" if r.status == "GREEN" else "#c62828"
        title = escape(
            f"run {r.id} {r.finished_at}: {r.status}, {plural(r.findings, 'finding')}, "
            f"parity {parity_text(r.parity)}"
        )
        if n > 1:
            h = plot_h * r.findings / most
            bar_w = max(min(step * 0.6, 24), 2)
            bars.append(
                f'<rect x="{x - bar_w / 2:.1f}" y="{base - h:.1f}" width="{bar_w:.1f}" '
                f'height="{h:.1f}" fill="{colour}" opacity="0.35"><title>{title}</title></rect>'
            )
        if i in labelled:
            parts.append(
                f'<text x="{x:.1f}" y="{base + 16}" font-size="10" text-anchor="middle">'
                f"{escape(_when(r.finished_at, chars))}</text>"
            )
        y = top + plot_h * (1 - r.parity)
        points.append(f"{x:.1f},{y:.1f}")
        dots.append(
            f'<circle cx="{x:.1f}" cy="{y:.1f}" r="{3 if n > 1 else 5}" fill="{colour}">'
            f"<title>{title}</title></circle>"
        )
    if n > 1:
        line = (
            f'<polyline fill="none" stroke="#1565c0" stroke-width="2" points="{" ".join(points)}"/>'
        )
    else:
        only = runs[0]
        line = (
            f'<text x="{width / 2 + 10:.1f}" y="{float(points[0].split(",")[1]) + 4:.1f}" '
            f'font-size="11">one run: {plural(only.findings, "finding")}, '
            f"parity {parity_text(only.parity)}</text>"
        )
    svg = (
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" role="img" '
        f'aria-label="parity and findings over the last {n} runs" class="trend">'
        + "".join(parts)
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
    kinds = sorted(
        {f.kind for g in view.groups for f in g.findings}
        | {g.side_kind for g in view.groups if g.side_kind}
    )
    tables = sorted(
        {f.entity for g in view.groups for f in g.findings}
        | {t for g in view.groups for t, _ in g.tables}
    )
    return _env.get_template("report.html.j2").render(
        r=result,
        ctx=context,
        counts=kind_counts(result.findings),
        parity=parity_text(parity(result)),
        fields=fields.most_common(),
        paths=top_paths(result, 15),
        view=view,
        kinds=kinds,
        tables=tables,
        ignored=result.ignored[: context.max_findings],
        pretty=_pretty,
        telling=_telling,
        plural=plural,
        v=_visible,
        reasons=reasons,
        trend=trend_svg(context.trend),
        mode_line=mode_line,
    )
