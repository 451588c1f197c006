"""report.json: the machine-readable contract (schemas/audit_report.schema.json).

report.json stays bounded: it lists every finding up to ``json_findings`` (10,000
by default). Above that it keeps the first ``json_findings`` in reading order
(value mismatches first), says how many there are in ``findings_total`` and names
``findings_file``, the gzip-compressed JSON Lines file beside it that holds every
finding (and every ignored finding, with its ``rule``, ``reason`` and ``expires``).
The same bound applies to ``ignored_findings`` and to the delta's lists.
"""

from __future__ import annotations

import gzip
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson

from shadow_audit.engine.findings import AuditResult
from shadow_audit.errors import SourceError
from shadow_audit.report.context import ReportContext
from shadow_audit.report.view import priority

REPORT_VERSION = 1
FINDINGS_FILE = "findings.jsonl.gz"
_OPTIONS = orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS | orjson.OPT_NON_STR_KEYS


def needs_findings_file(result: AuditResult, context: ReportContext | None = None) -> bool:
    """Whether report.json leaves findings out, so that findings.jsonl.gz must be written.

    Args:
        result: the audit.
        context: carries ``json_findings``, the most findings report.json lists.

    Returns:
        True when the findings or the ignored findings exceed the bound.
    """
    limit = (context or ReportContext()).json_findings
    return len(result.findings) > limit or len(result.ignored) > limit


def report_dict(result: AuditResult, context: ReportContext | None = None) -> dict[str, Any]:
    """The content of report.json.

    Args:
        result: the audit.
        context: run id, delta and ``json_findings``.

    Returns:
        A dict that validates against schemas/audit_report.schema.json.
    """
    context = context or ReportContext()
    limit = context.json_findings
    data: dict[str, Any] = {"report_version": REPORT_VERSION, **result.to_dict()}
    data["findings_total"] = len(result.findings)
    data["ignored_total"] = len(result.ignored)
    data["findings_file"] = FINDINGS_FILE if needs_findings_file(result, context) else None
    if len(result.findings) > limit:
        kept = sorted(result.findings, key=priority)[:limit]
        data["findings"] = [f.to_dict() for f in kept]
    if len(result.ignored) > limit:
        data["ignored_findings"] = data["ignored_findings"][:limit]
    if context.run_id is not None:
        data["run_id"] = context.run_id
    if context.delta is not None:
        delta = context.delta.to_dict()
        for part in ("new", "persisting", "resolved"):
            delta[f"{part}_total"] = len(delta[part])
            delta[part] = delta[part][:limit]
        data["delta"] = delta
    return data


def render_json(result: AuditResult, context: ReportContext | None = None) -> str:
    """report.json as text (sorted keys, two-space indent).

    Args:
        result: the audit.
        context: run id, delta and ``json_findings``.

    Returns:
        The JSON text, ending with a newline.
    """
    data = orjson.dumps(report_dict(result, context), option=_OPTIONS, default=str)
    return data.decode() + "\n"


def findings_lines(result: AuditResult) -> Iterator[bytes]:
    """Every finding, then every ignored finding, one JSON object per line.

    Args:
        result: the audit.

    Yields:
        One line of JSON Lines, ending with a newline.
    """
    for f in result.findings:
        yield orjson.dumps(f.to_dict(), option=orjson.OPT_NON_STR_KEYS, default=str) + b"\n"
    for i in result.ignored:
        yield orjson.dumps(i.to_dict(), option=orjson.OPT_NON_STR_KEYS, default=str) + b"\n"


def render_findings_file(result: AuditResult) -> bytes:
    """findings.jsonl.gz: every finding as gzip-compressed JSON Lines (reproducible bytes).

    Args:
        result: the audit.

    Returns:
        The compressed bytes (no timestamp in the gzip header).
    """
    return gzip.compress(b"".join(findings_lines(result)), compresslevel=6, mtime=0)


def read_findings(report: dict[str, Any], folder: Path) -> list[dict[str, Any]]:
    """Every finding of a report.json: its list, or its findings file when it names one.

    Args:
        report: the parsed report.json.
        folder: the folder holding it (where ``findings_file`` lives).

    Returns:
        The findings as dicts (without the ignored ones).

    Raises:
        SourceError: the findings file cannot be read or is not gzip JSON Lines.
    """
    name = report.get("findings_file")
    if not name:
        return list(report.get("findings", []))
    path = folder / Path(str(name)).name
    try:
        lines = gzip.decompress(path.read_bytes()).splitlines()
        rows = [orjson.loads(line) for line in lines if line]
    except (OSError, EOFError, orjson.JSONDecodeError) as exc:
        raise SourceError(f"findings file {path}: {exc}") from exc
    return [r for r in rows if "rule" not in r]
