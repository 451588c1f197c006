"""The HTML report as a person opens it: on a 1280x800 screen a RED report shows its
verdict and its first findings without scrolling; parity reads with two decimals and never
as 100 % while a row differs; the trend names its axes; keys are listed in number order."""

from __future__ import annotations

import dataclasses
import json
import re
import shutil
import subprocess

import pytest

from shadow_audit.engine.findings import AuditResult, Coverage, EntitySummary, Finding
from shadow_audit.report import ReportContext, group_findings, render
from shadow_audit.report.history import Delta, Run, parity_text
from shadow_audit.report.html import trend_svg
from tests.report.test_view import deleted_project, mismatch

TABLES = ("missions", "session_narrative", "domain_concepts", "domain_concerns", "trajectory")
# what a reference-v2 database reports as paths it cannot hold: a long coverage line
LOST = ("_created", "_schema_version", "domain.type", "intent_history", "metadata.name",
        "project_id", "roadmap", "status.lastUpdate", "status.message")  # fmt: skip


def heavy_red() -> AuditResult:
    """A RED run with everything that sits above the findings in a naive layout: five
    tables, drifting fields and paths, a long coverage line; 2 deleted projects (19 extra
    rows each) and 30 mismatches in 30 projects."""
    findings = [f for d in ("gone-1", "gone-2") for f in deleted_project(d)]
    findings += [
        mismatch(f"proj-{i:06d}", ("owner", "description", "name")[i % 3]) for i in range(30)
    ]
    return AuditResult(
        source="/srv/agency/workspaces", shadow="/srv/agency/.vibe/state/vibe_agency.db",
        started_at="2026-01-02T03:04:05Z", finished_at="2026-01-02T03:04:06Z",
        summary={t: EntitySummary(t, 1000, 1002, 970, 30, 0, 2) for t in TABLES},
        findings=tuple(findings), documents=1000,
        coverage=Coverage(unmapped_paths=tuple({"path": p, "document": "memory"} for p in LOST)),
    )  # fmt: skip


def _run(i: int, findings: int, share: float, status: str = "RED") -> Run:
    return Run(i, "t", f"2026-01-{i:02d}T03:04:06Z", status, 1000, findings, 0, False, "", share)


HISTORY = ReportContext(
    run_id=30,
    delta=Delta(previous_run=29),
    trend=tuple(_run(i, 68 - 2 * i, 0.95 + i / 1000) for i in range(1, 31)),
)


def test_the_verdict_and_the_findings_come_before_the_tables_trend_and_coverage():
    html = render(heavy_red(), "html", HISTORY)
    findings = html.index('id="findings"')
    assert html.index('class="verdict RED"') < findings
    assert html.index("Parity <b>") < findings  # the summary line stays on top
    for below in ('id="tables"', 'id="drift"', 'id="trend"', 'id="coverage"', "<svg", "<table"):
        assert findings < html.index(below), below


def _chromium() -> str:
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found is None:
        pytest.skip("chromium is not installed (apt-get install chromium)")
    return found


PROBE = """<script>
var first = document.querySelector(".doc .f").getBoundingClientRect();
var verdict = document.querySelector(".verdict").getBoundingClientRect();
document.body.setAttribute("data-probe", JSON.stringify(
  {verdict: verdict.bottom, finding: first.bottom, height: innerHeight, width: innerWidth}));
</script></body>"""


@pytest.mark.slow  # a browser start: seconds on a busy machine
def test_a_red_report_shows_verdict_and_first_finding_on_a_1280x800_screen(tmp_path):
    """Laid out by a real browser: the first finding's bottom edge is inside the window."""
    chromium = _chromium()
    page = tmp_path / "report.html"
    page.write_text(render(heavy_red(), "html", HISTORY).replace("</body>", PROBE))
    shown = subprocess.run(
        [chromium, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
         "--window-size=1280,800", "--dump-dom", page.as_uri()],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    probe = re.search(r'data-probe="([^"]+)"', shown.stdout)
    assert probe is not None, shown.stderr[-2000:]
    box = json.loads(probe.group(1).replace("&quot;", '"'))
    assert box["width"] == 1280 and 600 < box["height"] <= 800
    assert box["verdict"] < 100
    assert box["finding"] <= box["height"], box


@pytest.mark.parametrize(
    ("share", "shown"),
    [
        (1.0, "100.00 %"),
        (0.999871, "99.99 %"),
        (0.99995, "99.99 %"),  # would round to 100.00
        (0.9999999, "99.99 %"),
        (0.959716, "95.97 %"),
        (0.5, "50.00 %"),
        (0.0, "0.00 %"),
    ],
)
def test_parity_reads_with_two_decimals_and_never_as_100_while_a_row_differs(share, shown):
    assert parity_text(share) == shown


def test_the_html_summary_shows_parity_with_two_decimals():
    one_off = AuditResult(
        source="/s", shadow="/d", started_at="t", finished_at="t",
        summary={"missions": EntitySummary("missions", 77_777, 77_777, 77_776, 1, 0, 0)},
        findings=(mismatch("p1"),), coverage=Coverage(), documents=77_777,
    )  # fmt: skip
    html = render(one_off, "html", ReportContext(trend=(_run(1, 1, 77_776 / 77_777),)))
    assert "Parity <b>99.99 %</b> of rows match." in html
    assert "parity 99.99 %" in html  # the trend's label
    assert not re.search(r"\d\.\d{3,}", html.split("<svg")[1].split("</svg>")[0])


def test_the_trend_names_what_each_axis_shows():
    svg = str(trend_svg(HISTORY.trend))
    texts = re.findall(r"<text[^>]*>([^<]*)</text>", svg)
    assert "parity: rows that match" in texts  # y, left: the line
    assert "findings per run" in texts  # y, right: the bars
    assert "when each run finished (UTC)" in texts  # x
    assert "2026-01-01 03:04" in texts and "2026-01-30 03:04" in texts  # oldest, newest
    assert {"100 %", "50 %", "0 %"} <= set(texts)
    one = str(trend_svg(HISTORY.trend[:1]))
    assert "parity: rows that match" in one and "when each run finished (UTC)" in one
    assert "2026-01-01 03:04" in one


def test_keys_are_listed_in_number_order_in_markdown_and_html():
    findings = [
        Finding("value_mismatch", "session_narrative", f"proj-{d}/{n}", "summary",
                "narrative[].summary", "memory", "a", "b")
        for d in (10, 9) for n in (10, 2, 1)
    ]  # fmt: skip
    view = group_findings(tuple(findings))
    assert [g.document for g in view.groups] == ["proj-9", "proj-10"]
    assert [f.key for f in view.groups[0].findings] == ["proj-9/1", "proj-9/2", "proj-9/10"]
    result = AuditResult(
        source="/s", shadow="/d", started_at="t", finished_at="t", summary={},
        findings=tuple(findings), coverage=Coverage(), documents=2,
    )  # fmt: skip
    md = render(result, "md", ReportContext())
    keys = re.findall(r"\| `(proj-[0-9/]+)` \| value_mismatch", md)
    assert keys == ["proj-9", "proj-9", "proj-9", "proj-10", "proj-10", "proj-10"]
    listed = re.findall(r"\| `(proj-\d+/\d+)` \| `summary`", md)
    assert listed == ["proj-9/1", "proj-9/2", "proj-9/10", "proj-10/1", "proj-10/2", "proj-10/10"]
    html = render(result, "html", ReportContext())
    assert re.findall(r'data-key="(proj-[0-9/]+)"', html) == listed
    # report.json keeps the engine's order: deterministic, not re-sorted for people
    report = json.loads(render(result, "json", ReportContext()))
    assert [f["key"] for f in report["findings"]] == [f.key for f in findings]


def test_a_diff_that_only_repeats_the_two_values_is_not_shown():
    same = mismatch("p1")
    changed = Finding(**{**same.__dict__, "detail": {"values_changed": {"root": {}}}})
    typed = Finding(**{**same.__dict__, "key": "p2", "source_value": "1", "shadow_value": 1,
                       "detail": {"type_changes": {"root": {"old_type": "str"}}}})  # fmt: skip
    html = render(AuditResult(
        source="/s", shadow="/d", started_at="t", finished_at="t", summary={},
        findings=(changed, typed), coverage=Coverage(), documents=2,
    ), "html", ReportContext())  # fmt: skip
    assert html.count("<summary>diff</summary>") == 1  # the type change: "1" vs 1


def test_junit_lists_keys_in_number_order():
    findings = tuple(
        Finding("missing_in_shadow", "session_narrative", f"p/{n}") for n in (10, 2, 1)
    )
    result = AuditResult(
        source="/s", shadow="/d", started_at="t", finished_at="t",
        summary={"session_narrative": EntitySummary("session_narrative", 3, 0, 0, 0, 3, 0)},
        findings=findings, coverage=Coverage(), documents=1,
    )  # fmt: skip
    junit = render(result, "junit", ReportContext())
    assert 'message="3 missing_in_shadow: p/1, p/2, p/10"' in junit


def test_runs_within_one_minute_are_told_apart_on_the_time_axis():
    runs = (
        _run(1, 3, 0.9),
        dataclasses.replace(_run(1, 0, 1.0), id=2, finished_at="2026-01-01T03:04:59Z"),
    )
    texts = re.findall(r"<text[^>]*>([^<]*)</text>", str(trend_svg(runs)))
    assert "2026-01-01 03:04:06" in texts and "2026-01-01 03:04:59" in texts
