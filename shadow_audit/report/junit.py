"""JUnit XML: one testcase per table and check, so CI systems list the failures.

The document is well-formed whatever the data holds: every text taken from a key,
a value or a reason has its control characters made visible first (XML 1.0 forbids
most of them even as character references), and lone surrogates and the
non-characters U+FFFE/U+FFFF are written as escapes.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from typing import Any

from shadow_audit.engine.findings import AuditResult, Finding
from shadow_audit.report.context import ReportContext
from shadow_audit.report.view import reading_order, reasons
from shadow_audit.text import plural, visible

ROW_CHECKS = ("missing_in_shadow", "extra_in_shadow", "value_mismatch", "duplicate_key")
SHOWN = 10
_NOT_XML = re.compile("[\ud800-\udfff\ufffe\uffff]")


def xml_text(value: Any) -> str:
    """Text that XML 1.0 can hold: control characters and non-characters made visible.

    Args:
        value: any value; it is turned into text with ``str``.

    Returns:
        One line of text with only characters XML 1.0 allows.
    """
    return _NOT_XML.sub(lambda m: f"\\u{ord(m.group()):04x}", visible(str(value)))


def _line(f: Finding) -> str:
    where = f"{f.kind} {f.entity} {f.key}" + (f" {f.field}" if f.field else "")
    if f.kind == "invalid_source":
        return f"{where} {f.path}: " + "; ".join(reasons(f))
    if f.kind == "duplicate_key":
        return f"{where}: " + "; ".join(reasons(f))
    return f"{where} source={f.source_value!r} shadow={f.shadow_value!r}"


def _case(suite: ET.Element, classname: str, name: str, failures: list[Finding]) -> None:
    case = ET.SubElement(suite, "testcase", classname=xml_text(classname), name=name, time="0")
    if failures:
        failures = sorted(failures, key=reading_order)  # numbers in order: proj/2, proj/10
        keys = ", ".join(f.key + (f".{f.field}" if f.field else "") for f in failures[:SHOWN])
        more = f" (+{len(failures) - SHOWN} more)" if len(failures) > SHOWN else ""
        failure = ET.SubElement(
            case, "failure", message=xml_text(f"{len(failures)} {name}: {keys}{more}"), type=name
        )
        failure.text = "\n".join(xml_text(_line(f)) for f in failures[:SHOWN])


def render_junit(result: AuditResult, context: ReportContext | None = None) -> str:
    """The audit as a JUnit test suite: a case per table and check, source and coverage.

    Args:
        result: the audit.
        context: unused (the signature every renderer shares).

    Returns:
        A well-formed XML document, ending with a newline.
    """
    suite = ET.Element("testsuite", name="shadow-audit", timestamp=xml_text(result.finished_at))
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
    unstable = [f for f in result.findings if f.kind == "unstable"]
    if unstable:  # not drift, the run stays GREEN: a skipped case lists the units
        case = ET.SubElement(
            suite, "testcase", classname="shadow_audit.recheck", name="unstable", time="0"
        )
        keys = ", ".join(f.key for f in sorted(unstable, key=reading_order)[:SHOWN])
        more = f" (+{len(unstable) - SHOWN} more)" if len(unstable) > SHOWN else ""
        message = f"{plural(len(unstable), 'unit')} kept changing while re-checked: {keys}{more}"
        ET.SubElement(case, "skipped", message=xml_text(message))
    coverage = ET.SubElement(
        suite, "testcase", classname="shadow_audit.coverage", name="complete", time="0"
    )
    if not result.coverage.complete:
        lost = ", ".join(result.coverage.lost_paths + result.coverage.missing_tables)
        ET.SubElement(
            coverage,
            "failure",
            message=xml_text(f"the shadow cannot hold: {lost}"),
            type="coverage",
        )
    cases = suite.findall("testcase")
    suite.set("tests", str(len(cases)))
    suite.set("failures", str(sum(1 for c in cases if c.find("failure") is not None)))
    suite.set("errors", "0")
    ET.indent(suite)
    return (
        '<?xml version="1.0" encoding="utf-8"?>\n' + ET.tostring(suite, encoding="unicode") + "\n"
    )
