"""Reports that read well and scale: findings grouped by document, a document held by one
side only as one line, value mismatches first with their values, at most --max-findings
shown with the count of the rest, invalid sources with their reasons, a one-run trend as
a point, and an HTML file whose size does not grow with the findings count."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET

from shadow_audit.engine.findings import AuditResult, Coverage, EntitySummary, Finding
from shadow_audit.report import ReportContext, group_findings, reasons, render
from shadow_audit.report.context import top_paths
from shadow_audit.report.history import Run
from tests.conftest import audit_cli

TABLES = ("missions", "session_narrative", "domain_concepts", "domain_concerns", "trajectory")


def deleted_project(pid: str) -> list[Finding]:
    """A workspace deleted from the JSON while its rows stay in the shadow:
    19 rows in 5 tables (1 mission, 8 sessions, 6 concepts, 3 concerns, 1 trajectory)."""
    rows = [("missions", pid), ("trajectory", pid)]
    rows += [("session_narrative", f"{pid}/{i}") for i in range(1, 9)]
    rows += [("domain_concepts", f"{pid}/concept-{i}") for i in range(6)]
    rows += [("domain_concerns", f"{pid}/concern-{i}") for i in range(3)]
    return [Finding("extra_in_shadow", t, k, shadow_value={"x": 1}) for t, k in rows]


def mismatch(pid: str, field: str = "owner") -> Finding:
    return Finding(
        "value_mismatch", "missions", pid, field, f"metadata.{field}", "manifest",
        "alice@example.com", "bob@example.com",
    )  # fmt: skip


def invalid(pid: str) -> Finding:
    return Finding(
        "invalid_source", "manifest", pid, None, f"/data/ws/{pid}/project_manifest.json",
        "manifest", detail=["/status/projectPhase: 'DONE' is not one of ['PLANNING']",
                            "/metadata/owner: 3 is not of type 'string'"],
    )  # fmt: skip


def result_of(findings: list[Finding]) -> AuditResult:
    return AuditResult(
        source="/data/ws", shadow="/data/db", started_at="2026-01-02T03:04:05Z",
        finished_at="2026-01-02T03:04:06Z",
        summary={t: EntitySummary(t, 10, 10, 9, 1) for t in TABLES},
        findings=tuple(findings), coverage=Coverage(), documents=10,
    )  # fmt: skip


# a deleted project sorts before the real mismatch in the engine's order
MIXED = [*deleted_project("aaa-deleted"), mismatch("zzz-real")]


def test_a_project_only_in_the_shadow_is_one_group_after_the_real_mismatch():
    view = group_findings(tuple(MIXED))
    assert [g.document for g in view.groups] == ["zzz-real", "aaa-deleted"]
    one = view.groups[1]
    assert one.headline == "only in the shadow: 19 rows in 5 tables"
    assert one.findings == () and one.total == 19
    assert view.total == view.shown == 20 and view.hidden == 0


def test_markdown_shows_the_mismatch_with_its_values_first_and_the_deleted_project_on_one_line():
    md = render(result_of(MIXED), "md", ReportContext())
    rows = [line for line in md.splitlines() if line.startswith("| `")]
    findings = rows[rows.index(next(r for r in rows if "zzz-real" in r)) :]
    assert findings[0].startswith("| `zzz-real` | value_mismatch |")
    assert "| alice\\@example.com | bob\\@example.com |" in findings[0]
    assert findings[1].startswith("| `aaa-deleted` | only in the shadow: 19 rows in 5 tables |")
    assert not any("aaa-deleted/" in r for r in rows)


def test_html_shows_the_mismatch_expanded_and_the_deleted_project_as_one_entry():
    html = render(result_of(MIXED), "html", ReportContext())
    body = html[html.index('id="findings"') :]
    assert body.index("zzz-real") < body.index("aaa-deleted")
    assert "<pre>alice@example.com</pre>" in body and "<pre>bob@example.com</pre>" in body
    assert "only in the shadow: 19 rows in 5 tables" in body
    assert body.count('class="f ') == 2
    assert 'data-kind="value_mismatch" data-table="missions" data-key="zzz-real"' in body


def test_one_document_cannot_take_the_whole_page():
    findings = [mismatch("big", f"f{i}") for i in range(300)] + [mismatch("small")]
    view = group_findings(tuple(findings), limit=100)
    assert [(g.document, len(g.findings)) for g in view.groups] == [("big", 50), ("small", 1)]
    assert view.groups[0].headline == "300 findings, 50 shown"
    assert view.hidden == 250 and view.hidden_text == "250 value_mismatch"


def test_some_extra_child_rows_of_a_present_document_are_listed_not_collapsed():
    extra = [Finding("extra_in_shadow", "domain_concepts", f"p1/c{i}") for i in range(3)]
    view = group_findings(tuple(extra))
    assert view.groups[0].one_sided is None and len(view.groups[0].findings) == 3


def test_html_filters_by_kind_table_and_key_without_loading_anything():
    html = render(result_of([*MIXED, invalid("mmm-broken")]), "html", ReportContext())
    assert 'id="f-kind"' in html and 'id="f-table"' in html and 'id="f-key"' in html
    assert "<option>invalid_source</option>" in html and "<option>trajectory</option>" in html
    assert "addEventListener" in html
    assert not re.search(
        r"<script[^>]+src=|<link[^>]+href=|@import|https?://(?!www\.w3\.org/2000/svg)", html
    )


def test_max_findings_caps_markdown_and_html_and_counts_the_rest():
    findings = [mismatch(f"p{i:04d}") for i in range(1200)] + deleted_project("gone")
    result = result_of(findings)
    md = render(result, "md", ReportContext(max_findings=50))
    assert "## Findings by document (50 of 1,219)" in md
    assert "| value_mismatch | 1,200 |" in md  # the count by kind, grouped too
    assert (
        "1,169 more findings not shown (1,150 value_mismatch, 19 extra_in_shadow); at most 50" in md
    )
    assert sum(1 for line in md.splitlines() if "| value_mismatch | `" in line) == 50
    html = render(result, "html", ReportContext())
    assert "Findings by document (500 of 1,219)" in html
    assert '1,219 findings: <span class="kind">1,200 value_mismatch</span>' in html
    assert "719 more findings are not shown here (700 value_mismatch, 19 extra_in_shadow;" in html
    assert html.count('class="f ') == 500


def test_the_html_stays_small_whatever_the_findings_count():
    def size(n: int) -> int:
        findings = [mismatch(f"p{i:06d}", f"f{i % 7}") for i in range(n)]
        findings += [f for i in range(n // 20) for f in deleted_project(f"d{i:05d}")]
        return len(render(result_of(findings), "html", ReportContext()).encode())

    small, large = size(1_000), size(20_000)
    assert large < 5_000_000
    assert large - small < 20_000  # only the counts and the drift tables change


def test_invalid_source_reasons_in_markdown_html_and_junit():
    result = result_of([invalid("broken-1"), mismatch("p1")])
    assert reasons(result.findings[0]) == [
        "/status/projectPhase: 'DONE' is not one of ['PLANNING']",
        "/metadata/owner: 3 is not of type 'string'",
    ]
    md = render(result, "md", ReportContext())
    row = next(line for line in md.splitlines() if "| invalid_source | `" in line)
    assert "/status/projectPhase\\: 'DONE' is not one of \\['PLANNING'\\]; /metadata/owner" in row
    html = render(result, "html", ReportContext())
    assert "<li>/metadata/owner: 3 is not of type &#39;string&#39;</li>" in html
    junit = ET.fromstring(render(result, "junit", ReportContext()))
    case = next(c for c in junit if c.get("name") == "invalid_source")
    text = case.find("failure").text or ""
    assert "/data/ws/broken-1/project_manifest.json: /status/projectPhase: 'DONE'" in text
    assert "3 is not of type 'string'" in text


def test_an_invalid_source_is_never_a_path_that_drifts():
    result = result_of([invalid(f"b{i}") for i in range(5)] + [mismatch("p1")])
    assert top_paths(result) == [("missions", "metadata.owner", 1)]
    md = render(result, "md", ReportContext())
    drift = md[md.index("## Paths that drift most") : md.index("## Findings by document")]
    assert "project_manifest.json" not in drift


def test_invalid_source_reasons_from_a_real_audit_reach_the_markdown(store, tmp_path):
    store.manifest_path("proj-000002").write_text('{"apiVersion": "v1"}')
    out = tmp_path / "out"
    assert audit_cli(store.source, store.db, out, "--format", "md,junit").returncode == 1
    md = (out / "report.md").read_text()
    row = next(line for line in md.splitlines() if "| invalid_source | `" in line)
    assert "required property" in row
    drift = md[md.index("## Paths that drift most") :] if "## Paths that drift" in md else ""
    assert "project_manifest.json" not in drift.split("## Findings by document")[0]


def _run(i: int, findings: int, parity: float) -> Run:
    return Run(i, "t", f"2026-01-0{i}T00:00:00Z", "RED", 5, findings, 0, True, "", parity)


def test_a_trend_of_one_run_is_a_point_not_a_bar():
    html = render(result_of(MIXED), "html", ReportContext(trend=(_run(1, 20, 0.9),)))
    svg = html[html.index("<svg") : html.index("</svg>")]
    assert "<rect" not in svg and "<polyline" not in svg
    assert svg.count("<circle") == 1 and "one run: 20 findings" in svg
    two = render(result_of(MIXED), "html", ReportContext(trend=(_run(1, 5, 1), _run(2, 20, 0.9))))
    svg = two[two.index("<svg") : two.index("</svg>")]
    assert svg.count("<rect") == 2 and "<polyline" in svg


def test_huge_keys_and_values_are_cut_so_500_entries_stay_small():
    huge = "x" * 1_000_000
    findings = [
        Finding("value_mismatch", "domain_concepts", f"p{i}/{huge}", "c", "domain.concepts[]",
                "memory", huge, huge + "y", {"values_changed": huge})
        for i in range(20)
    ]  # fmt: skip
    result = result_of(findings)
    assert len(render(result, "html", ReportContext()).encode()) < 20 * 8_000 + 50_000
    assert len(render(result, "md", ReportContext()).encode()) < 20 * 1_000 + 5_000


def test_a_deleted_project_is_not_a_path_that_drifts():
    """Its rows carry their key paths, as a real audit gives them; a stale concept of a
    present project is real drift of ``domain.concepts[]``."""
    gone = [
        Finding("extra_in_shadow", "missions", "gone", path="metadata.projectId"),
        Finding("extra_in_shadow", "trajectory", "gone", path="memory"),
        *(
            Finding("extra_in_shadow", "session_narrative", f"gone/{i}", path="narrative[].session")
            for i in range(1, 7)
        ),
    ]
    stale = Finding("extra_in_shadow", "domain_concepts", "p2/stale", path="domain.concepts[]")
    result = result_of([*gone, mismatch("p1"), stale])
    assert set(top_paths(result)) == {
        ("missions", "metadata.owner", 1),
        ("domain_concepts", "domain.concepts[]", 1),
    }
    md = render(result, "md", ReportContext())
    drift = md[md.index("## Paths that drift most") : md.index("## Findings by document")]
    assert "narrative[].session" not in drift and "metadata.projectId" not in drift
