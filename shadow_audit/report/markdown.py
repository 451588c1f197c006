"""Markdown for CI job summaries and pull-request comments.

Nothing taken from data can start a line, a heading, a table row, a link, an
image or HTML. Control characters are made visible first, so no value spans two
lines. Names (keys, tables, fields, paths, files) are shown in code spans by
``code``: pipes escaped for the table, and a backtick fence longer than any run of
backticks inside. Values and reasons are shown as escaped text by ``text``: every
character that could start inline markup is backslash-escaped, and ``&``, ``<``,
``>`` are written as entities.
"""

from __future__ import annotations

import json
import re
from typing import Any

from shadow_audit.engine.findings import AuditResult, Finding
from shadow_audit.report.context import ReportContext, top_paths
from shadow_audit.report.history import parity, parity_text
from shadow_audit.report.view import FindingsView, group_findings, kind_counts, reasons
from shadow_audit.text import plural, visible

VALUE_WIDTH = 60
NAME_WIDTH = 200  # keys, tables, fields, paths
REASON_WIDTH = 300  # why a source is invalid
_BACKTICKS = re.compile("`+")
# backslash-escaped: escapes, code, emphasis, strikethrough, links, images, table
# cells, and the scheme and e-mail autolinks of GitHub's Markdown
_MARKUP = re.compile(r"([\\`*_~\[\]!|:@])")
_ENTITIES = {"&": "&amp;", "<": "&lt;", ">": "&gt;"}
_WWW = re.compile(r"(?i)(?<![a-z0-9])(www)\.")


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    return json.dumps(value, sort_keys=True, ensure_ascii=False, default=str)


def mode_line(result: AuditResult) -> str:
    """One line on how an ``--incremental`` run went: what it re-read, or why it was full.

    Args:
        result: the audit (``result.incremental`` set).

    Returns:
        The line, e.g. ``incremental: 3 units audited, 4 documents re-read, 1 shadow key
        changed``.
    """
    how = result.incremental
    if how is None:
        return result.mode
    if result.mode == "full":
        return f"full ({visible(how.fallback or 'forced')})"
    return (
        f"incremental: {plural(how.units_audited, 'unit')} audited, "
        f"{plural(how.documents_reread, 'document')} re-read, "
        f"{plural(how.shadow_keys_changed, 'shadow key')} changed"
    )


def code(value: Any, limit: int | None = None) -> str:
    """``value`` as a Markdown code span that no content can break out of.

    Args:
        value: any value; non-strings are shown as compact JSON, ``None`` as nothing.
        limit: cut the text to this many characters (with ``…``) before quoting.

    Returns:
        A code span such as ``` `proj-7/3` ```, or ``""`` for an empty value.
    """
    text = visible(_text(value))
    if limit is not None and len(text) > limit:
        text = text[: limit - 1] + "…"
    if not text:
        return ""
    text = text.replace("|", "\\|")
    fence = "`" * (max((len(m) for m in _BACKTICKS.findall(text)), default=0) + 1)
    pad = " " if text[0] in "` " or text[-1] in "` " else ""
    return f"{fence}{pad}{text}{pad}{fence}"


def text(value: Any, limit: int | None = None) -> str:
    """``value`` as Markdown text that shows exactly its characters and nothing else.

    Args:
        value: any value; non-strings are shown as compact JSON, ``None`` as nothing.
        limit: cut the text to this many characters (with ``…``) before escaping.

    Returns:
        One line of escaped text, e.g. ``alice\\@example.com`` for ``alice@example.com``.
    """
    shown = visible(_text(value))
    if limit is not None and len(shown) > limit:
        shown = shown[: limit - 1] + "…"
    shown = _MARKUP.sub(r"\\\1", shown)
    shown = "".join(_ENTITIES.get(c, c) for c in shown)
    return _WWW.sub(r"\1\\.", shown)


def _finding_row(doc: str, f: Finding) -> str:
    if f.kind in ("invalid_source", "duplicate_key"):
        source, shadow = text("; ".join(reasons(f)), REASON_WIDTH), ""
    else:
        source, shadow = text(f.source_value, VALUE_WIDTH), text(f.shadow_value, VALUE_WIDTH)
    cells = [
        code(doc, NAME_WIDTH),
        f.kind,
        code(f.entity, NAME_WIDTH),
        code(f.key, NAME_WIDTH),
        code(f.field, NAME_WIDTH),
        source,
        shadow,
    ]
    return "| " + " | ".join(cells) + " |"


def _findings(view: FindingsView) -> list[str]:
    shown = f"{view.shown:,} of {view.total:,}" if view.hidden else f"{view.total:,}"
    lines = [
        "",
        f"## Findings by document ({shown})",
        "",
        "| document | finding | table | key | field | source | shadow |",
        "|---|---|---|---|---|---|---|",
    ]
    for group in view.groups:
        if group.one_sided:
            tables = ", ".join(f"{code(t)} {n}" for t, n in group.tables)
            doc = code(group.document, NAME_WIDTH)
            lines.append(f"| {doc} | {group.headline} | {tables} | | | | |")
            continue
        lines += [_finding_row(group.document, f) for f in group.findings]
    if view.hidden:
        lines += [
            "",
            f"{plural(view.hidden, 'more finding')} not shown ({view.hidden_text}); "
            f"at most {view.limit} entries are shown, every finding is in report.json and "
            "findings.jsonl.gz.",
        ]
    return lines


def render_markdown(result: AuditResult, context: ReportContext | None = None) -> str:
    """The report as Markdown: verdict, counts, tables, drift, findings by document, coverage.

    Args:
        result: the audit.
        context: run id, delta and ``max_findings`` (default: none, 500).

    Returns:
        The Markdown text, ending with a newline.
    """
    context = context or ReportContext()
    icon = "✅" if result.status == "GREEN" else "❌"
    lines = [
        f"# {icon} shadow-audit: {result.status}",
        "",
        f"- source: {code(result.source)} ({plural(result.documents, 'document')})",
        f"- shadow: {code(result.shadow)}",
        f"- finished: {code(result.finished_at)}",
        f"- parity: {parity_text(parity(result))} of rows match",
    ]
    if result.incremental is not None:
        lines.append(f"- mode: {mode_line(result)}")
    if context.run_id is not None:
        lines.append(f"- run: {context.run_id}")
    counts = kind_counts(result.findings)
    lines += ["", "## Findings", ""]
    if counts:
        lines += ["| kind | count |", "|---|---:|"] + [
            f"| {k} | {v:,} |" for k, v in counts.items()
        ]
    else:
        lines.append("No findings.")
    if result.ignored:
        lines.append(f"\n{plural(len(result.ignored), 'finding')} ignored by active rules.")
    lines += [
        "",
        "## Tables",
        "",
        "| table | source rows | shadow rows | matched | mismatched | missing | extra |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for name, s in result.summary.items():
        lines.append(
            f"| {code(name)} | {s.source_rows} | {s.shadow_rows} | {s.matched} | {s.mismatched} "
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
        lines += [f"| {code(e)} | {code(p, NAME_WIDTH)} | {n} |" for e, p, n in paths]
    if result.findings:
        lines += _findings(group_findings(result.findings, limit=context.max_findings))
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
                "Paths the shadow cannot hold: " + ", ".join(code(p) for p in cov.lost_paths)
            )
        if cov.missing_tables:
            lines.append("Tables missing: " + ", ".join(code(t) for t in cov.missing_tables))
    return "\n".join(lines) + "\n"
