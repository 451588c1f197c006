"""Renderers are pure functions of a result: golden files for md/html/junit/prom on a small
fixed result, escaping of hostile values, and report.json against its schema."""

from __future__ import annotations

import os
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from shadow_audit.engine.findings import AuditResult, Coverage, EntitySummary, Finding
from shadow_audit.report import ReportContext, render
from shadow_audit.report.history import Delta, Run

GOLDEN = Path(__file__).resolve().parents[1] / "golden"

# 2 findings: one changed summary, one missing concept; coverage lacks one column.
FIXED = AuditResult(
    source="/data/workspaces",
    shadow="/data/vibe_agency.db",
    started_at="2026-01-02T03:04:05Z",
    finished_at="2026-01-02T03:04:06Z",
    summary={
        "missions": EntitySummary("missions", 2, 2, 2, 0, 0, 0, 14),
        "session_narrative": EntitySummary("session_narrative", 4, 4, 3, 1, 0, 0, 3),
        "domain_concepts": EntitySummary("domain_concepts", 3, 2, 2, 0, 1, 0, 0),
    },
    findings=(
        Finding(
            "missing_in_shadow",
            "domain_concepts",
            "p-1/payments",
            None,
            "domain.concepts[]",
            "memory",
            {},
            None,
            None,
        ),
        Finding(
            "value_mismatch",
            "session_narrative",
            "p-2/3",
            "summary",
            "narrative[].summary",
            "memory",
            "<script>alert('x')</script> & more",
            "old summary",
            {
                "values_changed": {
                    "root": {
                        "new_value": "old summary",
                        "old_value": "<script>alert('x')</script> & more",
                    }
                }
            },
        ),
    ),
    coverage=Coverage(
        missing_columns=({"entity": "missions", "column": "name", "path": "metadata.name"},)
    ),
    normalizers={"float_tolerance": 1},
    documents=2,
)
CONTEXT = ReportContext(
    run_id=3,
    delta=Delta(
        previous_run=2,
        new=(
            (("value_mismatch", "session_narrative", "p-2/3", "summary"), "2026-01-02T03:04:06Z"),
        ),
    ),
    trend=(
        Run(
            1,
            "2026-01-01T03:00:00Z",
            "2026-01-01T03:00:01Z",
            "GREEN",
            2,
            0,
            0,
            False,
            "metadata.name",
            1.0,
        ),
        Run(
            2,
            "2026-01-01T15:00:00Z",
            "2026-01-01T15:00:01Z",
            "RED",
            2,
            1,
            0,
            False,
            "metadata.name",
            0.9,
        ),
        Run(
            3,
            "2026-01-02T03:04:05Z",
            "2026-01-02T03:04:06Z",
            "RED",
            2,
            2,
            0,
            False,
            "metadata.name",
            0.7778,
        ),
    ),
)
FILES = {
    "md": "report.md",
    "html": "report.html",
    "junit": "junit.xml",
    "prom": "shadow_audit.prom",
}


@pytest.mark.parametrize("fmt", sorted(FILES))
def test_golden(fmt):
    """Set SHADOW_AUDIT_UPDATE_GOLDEN=1 to rewrite the golden files after a deliberate change."""
    text = render(FIXED, fmt, CONTEXT)
    golden = GOLDEN / FILES[fmt]
    if os.environ.get("SHADOW_AUDIT_UPDATE_GOLDEN"):
        golden.write_text(text)
    assert text == golden.read_text()


def test_html_escapes_every_value_and_fetches_nothing():
    html = render(FIXED, "html", CONTEXT)
    assert "<script>alert" not in html
    assert "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; &amp; more" in html
    assert "http://" not in html.replace('xmlns="http://www.w3.org/2000/svg"', "")
    assert "https://" not in html
    assert "<svg" in html and "<polyline" in html  # the trend


def test_junit_is_valid_xml_with_one_case_per_table_and_check():
    root = ET.fromstring(render(FIXED, "junit", CONTEXT))
    assert root.get("tests") == str(3 * 4 + 2)
    failures = {(c.get("classname"), c.get("name")) for c in root if c.find("failure") is not None}
    assert failures == {
        ("shadow_audit.domain_concepts", "missing_in_shadow"),
        ("shadow_audit.session_narrative", "value_mismatch"),
        ("shadow_audit.coverage", "complete"),
    }


def test_prometheus_lines_are_well_formed():
    import re

    line = re.compile(r'^[a-z_]+(\{[a-z_]+="[^"]*"(,[a-z_]+="[^"]*")*\})? [0-9.e+-]+$')
    for text in render(FIXED, "prom", CONTEXT).splitlines():
        assert text.startswith("# ") or line.match(text), text
