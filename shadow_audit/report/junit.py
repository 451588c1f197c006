"""JUnit XML: one testcase per table and check, so CI systems list the failures."""

from __future__ import annotations

import xml.etree.ElementTree as ET

from shadow_audit.engine.findings import AuditResult, Finding
from shadow_audit.report.context import ReportContext

ROW_CHECKS = ("missing_in_shadow", "extra_in_shadow", "value_mismatch", "duplicate_key")
SHOWN = 10


def _case(suite: ET.Element, classname: str, name: str, failures: list[Finding]) -> None:
    case = ET.SubElement(suite, "testcase", classname=classname, name=name, time="0")
    if failures:
        keys = ", ".join(f.key + (f".{f.field}" if f.field else "") for f in failures[:SHOWN])
        more = f" (+{len(failures) - SHOWN} more)" if len(failures) > SHOWN else ""
        failure = ET.SubElement(
            case, "failure", message=f"{len(failures)} {name}: {keys}{more}", type=name
        )
        failure.text = "\n".join(
            f"{f.kind} {f.entity} {f.key} {f.field or ''} source={f.source_value!r} "
            f"shadow={f.shadow_value!r}"
            for f in failures[:SHOWN]
        )


def render_junit(result: AuditResult, context: ReportContext | None = None) -> str:
    suite = ET.Element("testsuite", name="shadow-audit", timestamp=result.finished_at)
    by: dict[tuple[str, str], list[Finding]] = {}
    for f in result.findings:
        by.setdefault((f.entity, f.kind), []).append(f)
    for entity in result.summary:
        for check in ROW_CHECKS:
            _case(suite, f"shadow_audit.{entity}", check, by.get((entity, check), []))
    invalid = [f for f in result.findings if f.kind == "invalid_source"]
    _case(suite, "shadow_audit.source", "invalid_source", invalid)
    source_dups = [
        f for f in result.findings if f.kind == "duplicate_key" and f.entity not in result.summary
    ]
    if source_dups:
        _case(suite, "shadow_audit.source", "duplicate_key", source_dups)
    coverage = ET.SubElement(
        suite, "testcase", classname="shadow_audit.coverage", name="complete", time="0"
    )
    if not result.coverage.complete:
        lost = ", ".join(result.coverage.lost_paths + result.coverage.missing_tables)
        ET.SubElement(
            coverage, "failure", message=f"the shadow cannot hold: {lost}", type="coverage"
        )
    cases = suite.findall("testcase")
    suite.set("tests", str(len(cases)))
    suite.set("failures", str(sum(1 for c in cases if c.find("failure") is not None)))
    suite.set("errors", "0")
    ET.indent(suite)
    return (
        '<?xml version="1.0" encoding="utf-8"?>\n' + ET.tostring(suite, encoding="unicode") + "\n"
    )
