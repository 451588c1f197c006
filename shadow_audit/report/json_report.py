"""report.json: the machine-readable contract (schemas/audit_report.schema.json)."""

from __future__ import annotations

from typing import Any

import orjson

from shadow_audit.audit.findings import AuditResult

REPORT_VERSION = 1


def report_dict(result: AuditResult) -> dict[str, Any]:
    return {"report_version": REPORT_VERSION, **result.to_dict()}


def render_json(result: AuditResult) -> str:
    data = orjson.dumps(
        report_dict(result),
        option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS | orjson.OPT_NON_STR_KEYS,
        default=str,
    )
    return data.decode() + "\n"
