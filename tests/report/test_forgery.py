"""Reports can't be forged or broken by data: values written into the JSON store by
whoever can write a document reach every format, and none of them may start a new
line, heading, table row, image or link in Markdown, break junit.xml, or add a
Prometheus line. HTML stays autoescaped."""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET

import pytest

from shadow_audit.engine.findings import AuditResult, Coverage, EntitySummary, Finding
from shadow_audit.report import ReportContext, render
from shadow_audit.report.markdown import code, text
from shadow_audit.text import visible
from tests.conftest import audit_cli

FORGED_VERDICT = "\r\r# ✅ shadow-audit: GREEN\r\r"
HOSTILE = [
    FORGED_VERDICT,
    "line\nbreak",
    "a | b | c",
    "![img](http://evil.example/x.png)",
    "[click](javascript:alert(1))",
    "``` fenced ``` and `one`",
    "<img src=x onerror=alert(1)>",
    "\x1b[32mGREEN\x1b[0m",
    "trailing backtick`",
    "`",
    "\u2028# after a line separator",
    "back\\slash\\|pipe",
    "see http://evil.example/x and www.evil.example or me@evil.example",
    "*bold* _em_ ~~strike~~ &lt;img&gt; &#10;",
]


def _concept_in_json_only(store, concept: str) -> None:
    """An out-of-band edit of the JSON (the reference system's own failure mode)."""
    path = store.memory_path("proj-000001")
    memory = json.loads(path.read_text())
    memory["domain"]["concepts"].append(concept)
    path.write_text(json.dumps(memory))


def test_a_concept_cannot_forge_a_green_verdict_in_a_red_markdown_report(store, tmp_path):
    _concept_in_json_only(store, FORGED_VERDICT)
    out = tmp_path / "out"
    run = audit_cli(store.source, store.db, out, "--format", "md")
    assert run.returncode == 1, run.stdout + run.stderr
    text = (out / "report.md").read_text()
    lines = re.split(r"\r\n|\r|\n|\u2028|\u2029", text)
    headings = [line for line in lines if line.lstrip().startswith("#")]
    assert headings[0] == "# ❌ shadow-audit: RED"
    assert not [h for h in headings if "GREEN" in h]
    assert "\r" not in text
    assert "`proj-000001/\\r\\r# ✅ shadow-audit: GREEN\\r\\r`" in text  # shown, made visible


def _cells(row: str) -> list[str]:
    """Split a GFM table row the way GitHub does: on pipes not escaped by a backslash."""
    return [c.strip() for c in re.split(r"(?<!\\)\|", row.strip())[1:-1]]


def _result(value: str) -> AuditResult:
    return AuditResult(
        source=f"/src/{value}",
        shadow="/db",
        started_at="2026-01-02T03:04:05Z",
        finished_at="2026-01-02T03:04:06Z",
        summary={"domain_concepts": EntitySummary("domain_concepts", 1, 1, 0, 1)},
        findings=(
            Finding("value_mismatch", "domain_concepts", f"p/{value}", value, value, "memory",
                    value, value, {"values_changed": value}),
            Finding("invalid_source", "memory", value, None, f"/src/{value}/m.json", "memory",
                    detail=[f"/domain: {value}"]),
        ),
        coverage=Coverage(missing_columns=({"entity": "t", "column": value, "path": value},)),
    )  # fmt: skip


@pytest.mark.parametrize("value", HOSTILE, ids=range(len(HOSTILE)))
def test_markdown_keeps_every_hostile_value_inside_its_cell(value):
    text = render(_result(value), "md", ReportContext())
    lines = re.split(r"\r\n|\r|\n|\u2028|\u2029", text)
    assert [line for line in lines if line.startswith("#")] == [
        "# ❌ shadow-audit: RED",
        "## Findings",
        "## Tables",
        "## Paths that drift most",
        "## Findings by document (2)",
        "## Coverage",
    ]
    assert "\x1b" not in text and "\r" not in text
    rows = [line for line in lines if line.startswith("| `p` | value_mismatch")]
    assert len(rows) == 1
    assert len(_cells(rows[0])) == 7  # no cell split by a pipe from the data
    for line in lines:  # what is left once code spans and escaped characters are taken out
        bare = re.sub(r"\\.", "", re.sub(r"(`+)(.+?)(?<!`)\1(?!`)", "", line))
        assert not re.search(r"[\[\]<`*~@]|https?:|www\.", bare), line


@pytest.mark.parametrize("value", HOSTILE, ids=range(len(HOSTILE)))
def test_escaped_text_shows_exactly_the_visible_value(value):
    escaped = text(value)
    assert "\n" not in escaped and "\r" not in escaped
    unescaped = re.sub(r"\\(.)", r"\1", escaped)
    for entity, char in (("&lt;", "<"), ("&gt;", ">"), ("&amp;", "&")):
        unescaped = unescaped.replace(entity, char)
    assert unescaped == visible(value)


@pytest.mark.parametrize("value", HOSTILE, ids=range(len(HOSTILE)))
def test_code_span_holds_the_value_and_nothing_escapes_it(value):
    span = code(value)
    fence = re.match("`+", span)
    assert fence is not None
    inner = span[len(fence.group()) : -len(fence.group())]
    assert span.endswith(fence.group())
    assert fence.group() not in inner  # the fence is longer than any backtick run inside
    assert not inner.startswith("`") and not inner.endswith("`")
    assert not re.search("[\x00-\x1f\x7f\u2028\u2029]", span)
    assert re.search(r"(?<!\\)\|", inner) is None  # every pipe escaped for the table


@pytest.mark.parametrize("value", [*HOSTILE, "\x00\x01\x08\x0b\x0c\x1f", "\ud800 lone", "\ufffe"])
def test_junit_is_well_formed_whatever_the_keys_hold(value):
    xml = render(_result(value), "junit", ReportContext())
    root = ET.fromstring(xml.encode("utf-8", "surrogatepass"))  # raises when not well-formed
    failures = [f for f in root.iter("failure")]
    assert failures, "the findings are reported"
    invalid = next(c for c in root if c.get("name") == "invalid_source").find("failure")
    assert invalid is not None and "/domain: " in (invalid.text or "")


def test_junit_with_a_control_character_in_a_child_key_from_a_real_audit(store, tmp_path):
    _concept_in_json_only(store, "bell\x07 and \x1b[2J clear")
    out = tmp_path / "out"
    assert audit_cli(store.source, store.db, out, "--format", "junit").returncode == 1
    root = ET.parse(out / "junit.xml").getroot()
    text = ET.tostring(root, encoding="unicode")
    assert "bell\\u0007 and \\e[2J clear" in text


@pytest.mark.parametrize("value", HOSTILE)
def test_prometheus_labels_stay_on_one_line(value):
    result = _result(value)
    result = AuditResult(**{**result.__dict__, "summary": {value: EntitySummary(value, 1, 1, 1)}})
    text = render(result, "prom", ReportContext())
    line = re.compile(
        r'^[a-z_]+(\{[a-z_]+="([^"\\]|\\.)*"(,[a-z_]+="([^"\\]|\\.)*")*\})? [0-9.e+-]+$'
    )
    for row in text.split("\n")[:-1]:
        assert row.startswith("# ") or line.match(row), repr(row)
    assert "\r" not in text and "\u2028" not in text


@pytest.mark.parametrize("value", HOSTILE)
def test_html_autoescapes_every_value(value):
    html = render(_result(value), "html", ReportContext())
    assert "<img src=x" not in html
    assert "onerror=alert(1)>" not in html
    assert "\x1b" not in html.split("<pre>")[0]  # keys, tables, paths are made visible
