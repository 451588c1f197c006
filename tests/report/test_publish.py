"""Publishing a run: one library call (publish_run) behind `shadow-audit audit`; bad options
rejected before anything is written or recorded; a failed audit leaves no --out folder
behind; run folders and latest copies no wider than the source; pruning that a symlink
cannot break; a bounded report.json with every finding in findings.jsonl.gz."""

from __future__ import annotations

import gzip
import json
import os
import stat
from pathlib import Path

import orjson
import pytest
from jsonschema import Draft202012Validator

from shadow_audit.engine.findings import AuditResult, Coverage, EntitySummary, Finding
from shadow_audit.errors import DatabaseError, SourceError, UsageError
from shadow_audit.notebook import load_report
from shadow_audit.report import ReportContext, publish, publish_run
from shadow_audit.report.history import History
from shadow_audit.validation import format_checker, load_schema
from tests.conftest import audit_cli, audit_main


def schema_errors(path: Path) -> list[str]:
    validator = Draft202012Validator(load_schema("audit_report"), format_checker=format_checker)
    report = json.loads(path.read_text())
    return [f"{list(e.absolute_path)}: {e.message}" for e in validator.iter_errors(report)]


@pytest.mark.parametrize(
    ("option", "message"),
    [
        (["--keep", "0"], "argument --keep: 0 is not a whole number >= 1"),
        (["--keep", "-3"], "argument --keep: -3 is not a whole number >= 1"),
        (["--max-findings", "0"], "argument --max-findings: 0 is not a whole number >= 1"),
        (
            ["--format", "md,pdf"],
            "argument --format: unknown pdf (known: json, md, html, junit, prom)",
        ),
    ],
)
def test_bad_report_options_are_rejected_before_anything_is_written(
    store, tmp_path, option, message
):
    out, history = tmp_path / "out", tmp_path / "history.db"
    run = audit_cli(store.source, store.db, out, "--history", str(history), *option)
    assert not out.exists() and not history.exists()
    assert run.returncode == 2, run.stdout + run.stderr
    assert run.stderr == f"shadow-audit audit: error: {message}\n"  # checked by the parser


def test_a_failed_audit_leaves_no_out_folder_behind(store, tmp_path):
    out = tmp_path / "new" / "reports"
    run = audit_cli(store.source, tmp_path / "nosuch.db", out, "--no-history")
    assert run.returncode == 2 and "nosuch.db" in run.stderr
    assert not (tmp_path / "new").exists()


def test_a_failed_audit_keeps_an_out_folder_that_was_there(store, tmp_path):
    out = tmp_path / "reports"
    out.mkdir()
    (out / "notes.txt").write_text("mine")
    with pytest.raises(DatabaseError):
        publish_run(store.source, tmp_path / "nosuch.db", out=out, history=None)
    assert (out / "notes.txt").read_text() == "mine"


def test_publish_run_is_the_whole_workflow_in_one_call(store, tmp_path):
    out, history = tmp_path / "reports", tmp_path / "history.db"
    first = publish_run(store.source, store.db, out=out, formats=["md"], history=history)
    store.sql("UPDATE missions SET owner = 'x' WHERE id = 1")
    run = publish_run(
        store.source, store.db, out=out, formats=["md", "html"], history=history, settle=0
    )
    assert first.exit_code == 0 and run.exit_code == 1 and run.skipped is None
    assert run.result is not None and run.result.status == "RED"
    assert run.run_id == 2 and run.delta is not None and run.delta.previous_run == 1
    assert run.published is not None
    assert run.published.run_dir == out / "runs" / run.published.run_dir.name
    assert run.published.run_dir.name.endswith("-run2")
    assert [p.name for p in run.published.latest] == ["report.json", "report.md", "report.html"]
    for latest in run.published.latest:
        assert latest.read_bytes() == (run.published.run_dir / latest.name).read_bytes()
    assert [r.id for r in History(history).runs()] == [2, 1]


def test_the_latest_folder_never_mixes_runs(store, tmp_path):
    """A GREEN run in json and html, then a RED run in json only: report.html must not stay
    behind saying GREEN beside a RED report.json."""
    out, history = tmp_path / "reports", tmp_path / "history.db"
    publish_run(store.source, store.db, out=out, formats=["json", "html"], history=history)
    assert (out / "report.html").exists()
    store.sql("UPDATE missions SET owner = 'x' WHERE id = 1")
    run = publish_run(store.source, store.db, out=out, formats=["json"], history=history, settle=0)
    assert run.exit_code == 1
    assert orjson.loads((out / "report.json").read_bytes())["status"] == "RED"
    assert not (out / "report.html").exists()
    assert sorted(p.name for p in out.iterdir() if not p.name.startswith(".")) == [
        "report.json",
        "runs",
    ]


def test_run_folders_and_latest_copies_are_no_wider_than_the_source(store, tmp_path):
    os.chmod(store.source, 0o750)
    out = tmp_path / "reports"
    old = os.umask(0o022)
    try:
        run = publish_run(store.source, store.db, out=out, formats=["md", "html"], history=None)
    finally:
        os.umask(old)
    assert run.published is not None

    def mode(p: Path) -> int:
        return stat.S_IMODE(p.stat().st_mode)

    for folder in (out, out / "runs", run.published.run_dir):
        assert mode(folder) == 0o750, folder
    for path in (*run.published.files, *run.published.latest):
        assert mode(path) == 0o640, path


def test_a_symlink_in_runs_does_not_break_pruning(store, tmp_path):
    out = tmp_path / "reports"
    runs = out / "runs"
    runs.mkdir(parents=True)
    precious = tmp_path / "precious"
    precious.mkdir()
    (precious / "keep.txt").write_text("keep me")
    (runs / "20000101T000000000000Z-run1").symlink_to(precious, target_is_directory=True)
    (runs / "20000101T000000000001Z-run2").symlink_to(tmp_path / "dangling")
    # named newer than any run: counted as a run, it would be "kept" and every real run pruned
    (runs / "29991231T235959999999Z-run9").symlink_to(precious, target_is_directory=True)
    (runs / "README").write_text("not a run")
    for _ in range(3):
        run = audit_main(store.source, store.db, out, "--no-history", "--keep", "1")
        assert run.returncode == 0, run.stderr
    real = [p for p in runs.iterdir() if p.is_dir() and not p.is_symlink()]
    assert len(real) == 1
    assert (precious / "keep.txt").read_text() == "keep me"
    assert (runs / "README").exists()


def big_result(n: int) -> AuditResult:
    findings = [Finding("extra_in_shadow", "domain_concepts", f"p{i:05d}/c") for i in range(n)] + [
        Finding("value_mismatch", "missions", "zzz", "owner", "metadata.owner", None, "a", "b")
    ]
    return AuditResult(
        source="/s", shadow="/d", started_at="2026-01-02T03:04:05Z",
        finished_at="2026-01-02T03:04:06Z",
        summary={"missions": EntitySummary("missions", 1, 1, 0, 1)},
        findings=tuple(findings), coverage=Coverage(), documents=n,
    )  # fmt: skip


def test_report_json_stays_bounded_and_every_finding_is_in_the_findings_file(tmp_path):
    result = big_result(30)
    published = publish(result, tmp_path, ["json"], ReportContext(json_findings=10))
    report = json.loads((tmp_path / "report.json").read_text())
    assert schema_errors(tmp_path / "report.json") == []
    assert report["findings_total"] == 31 and len(report["findings"]) == 10
    assert report["findings"][0]["kind"] == "value_mismatch"  # the most telling first
    assert report["findings_file"] == "findings.jsonl.gz"
    lines = gzip.decompress((tmp_path / "findings.jsonl.gz").read_bytes()).splitlines()
    assert [json.loads(line) for line in lines] == [f.to_dict() for f in result.findings]
    assert (published.run_dir / "findings.jsonl.gz").samefile(tmp_path / "findings.jsonl.gz")
    assert len(load_report(tmp_path).findings) == 31  # the notebook reads them all
    # the next run fits: its report.json has every finding and no stale findings file beside it
    publish(big_result(3), tmp_path, ["json"], ReportContext(json_findings=10))
    report = json.loads((tmp_path / "report.json").read_text())
    assert report["findings_file"] is None and report["findings_total"] == len(report["findings"])
    assert not (tmp_path / "findings.jsonl.gz").exists()


def test_every_report_the_cli_writes_validates_with_the_new_fields(store, tmp_path):
    store.sql("UPDATE missions SET owner = 'x' WHERE id = 1")
    out = tmp_path / "out"
    history = tmp_path / "h.db"
    for _ in range(2):
        assert audit_main(store.source, store.db, out, "--history", str(history)).returncode == 1
    assert schema_errors(out / "report.json") == []
    report = json.loads((out / "report.json").read_text())
    assert report["findings_total"] == 1 and report["findings_file"] is None
    assert report["run_id"] == 2 and report["delta"]["persisting_total"] == 1


def test_publish_rejects_keep_below_one_before_writing(tmp_path):
    with pytest.raises(UsageError, match="--keep must be at least 1"):
        publish(big_result(1), tmp_path / "out", ["json"], keep=0)
    assert not (tmp_path / "out").exists()


def test_a_broken_findings_file_is_one_clear_error(tmp_path):
    publish(big_result(30), tmp_path, ["json"], ReportContext(json_findings=10))
    (tmp_path / "findings.jsonl.gz").write_bytes(b"not gzip")
    with pytest.raises(SourceError, match=r"findings file .*findings\.jsonl\.gz"):
        load_report(tmp_path)


def test_a_history_that_cannot_be_written_leaves_no_out_folder_behind(store, tmp_path):
    history = tmp_path / "history.db"
    history.write_text("not a database")
    out = tmp_path / "reports"
    run = audit_cli(store.source, store.db, out, "--history", str(history))
    assert run.returncode == 2 and "history" in run.stderr
    assert not out.exists()


def test_the_report_package_imports_without_pandas_or_deepdiff():
    """The pytest plugin imports report helpers; publish_run loads the engine only when run."""
    import subprocess
    import sys

    code = (
        "import sys, shadow_audit.report; print(sorted({'pandas', 'deepdiff'} & set(sys.modules)))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"
