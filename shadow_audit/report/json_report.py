"""report.json: the machine-readable contract (schemas/audit_report.schema.json)."""

from __future__ import annotations

from typing import Any

import orjson

from shadow_audit.engine.findings import AuditResult
from shadow_audit.report.context import ReportContext

REPORT_VERSION = 1


def report_dict(result: AuditResult, context: ReportContext | None = None) -> dict[str, Any]:
    data: dict[str, Any] = {"report_version": REPORT_VERSION, **result.to_dict()}
    if context is not None and context.run_id is not None:
        data["run_id"] = context.run_id
    if context is not None and context.delta is not None:
        data["delta"] = context.delta.to_dict()
    return data


def render_json(result: AuditResult, context: ReportContext | None = None) -> str:
    data = orjson.dumps(
        report_dict(result, context),
        option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS | orjson.OPT_NON_STR_KEYS,
        default=str,
    )
    return data.decode() + "\n"
