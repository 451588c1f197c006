"""`shadow-audit audit` as cron and CI run it: exit codes, one-line errors, report.json that
validates against its published schema, and a database the audit never touches."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

from jsonschema import Draft202012Validator

from shadow_audit.validation import format_checker, load_schema
from tests.conftest import audit_cli, run_cli

cli = run_cli


def assert_report_valid(path: Path) -> dict:
    report = json.loads(path.read_text())
    validator = Draft202012Validator(load_schema("audit_report"), format_checker=format_checker)
    errors = [f"{list(e.absolute_path)}: {e.message}" for e in validator.iter_errors(report)]
    assert errors == []
    return report


def test_green_then_red_after_one_manual_update(store, tmp_path):
    out = tmp_path / "out"
    green = audit_cli(store.source, store.db, out)
    assert green.returncode == 0, green.stdout + green.stderr
    assert green.stdout.startswith("GREEN: 5 documents, no findings")
    assert green.stderr == ""  # no progress bar when stderr is not a terminal
    assert assert_report_valid(out / "report.json")["status"] == "GREEN"

    store.sql("UPDATE missions SET phase = 'PRODUCTION' WHERE mission_uuid = 'proj-000002'")
    red = audit_cli(store.source, store.db, out)
    assert red.returncode == 1
    assert red.stdout.startswith("RED: 5 documents, 1 value_mismatch")
    assert "value_mismatch     missions proj-000002 phase" in red.stdout
    report = assert_report_valid(out / "report.json")
    assert [(f["field"], f["shadow_value"]) for f in report["findings"]] == [
        ("phase", "PRODUCTION")
    ]


def test_every_kind_of_report_validates(store, tmp_path):
    import shutil

    store.sql("UPDATE missions SET owner = NULL WHERE mission_uuid = 'proj-000000'")
    store.sql("DELETE FROM domain_concepts WHERE id = 1")
    store.sql("INSERT INTO domain_concerns (mission_id, concern, timestamp) VALUES (1, 'zzz', 't')")
    store.memory_path("proj-000004").write_text("{broken")
    shutil.copytree(store.source / "proj-000003", store.source / "dup")
    out = tmp_path / "out"
    assert audit_cli(store.source, store.db, out).returncode == 1
    report = assert_report_valid(out / "report.json")
    assert {k for k, v in report["counts"].items() if v} == {
        "value_mismatch",
        "missing_in_shadow",
        "extra_in_shadow",
        "invalid_source",
        "duplicate_key",
    }


def test_missing_database_is_exit_2_naming_the_file(store, tmp_path):
    run = audit_cli(store.source, tmp_path / "nope.db", tmp_path / "out")
    assert run.returncode == 2
    assert run.stderr == f"shadow-audit: database {tmp_path / 'nope.db'}: no such file\n"


def test_corrupt_database_is_exit_2_naming_the_file(store, tmp_path):
    bad = tmp_path / "bad.db"
    bad.write_bytes(os.urandom(8192))
    run = audit_cli(store.source, bad, tmp_path / "out")
    assert run.returncode == 2
    assert run.stderr.startswith(f"shadow-audit: database {bad}: cannot read as SQLite")
    assert len(run.stderr.splitlines()) == 1


def test_unreadable_source_folder_is_exit_2(store, tmp_path):
    run = audit_cli(tmp_path / "missing", store.db, tmp_path / "out")
    assert run.returncode == 2
    assert (
        run.stderr == f"shadow-audit: source folder {tmp_path / 'missing'}: not a readable folder\n"
    )


def test_empty_source_and_empty_database_is_green(tmp_path):
    from shadow_audit.stores.sqlite_shadow import SqliteShadow

    (tmp_path / "src").mkdir()
    SqliteShadow(tmp_path / "s.db")
    run = audit_cli(tmp_path / "src", tmp_path / "s.db", tmp_path / "out")
    assert run.returncode == 0
    assert run.stdout.startswith("GREEN: 0 documents")


def test_empty_source_against_a_full_database_is_red(store, tmp_path):
    (tmp_path / "empty").mkdir()
    run = audit_cli(tmp_path / "empty", store.db, tmp_path / "out")
    assert run.returncode == 1
    report = json.loads((tmp_path / "out" / "report.json").read_text())
    assert report["summary"]["missions"]["extra_in_shadow"] == 5


def test_audit_never_changes_the_database(store, tmp_path):
    store.sql("UPDATE missions SET owner = 'drift' WHERE id = 1")
    files = [store.db, *store.db.parent.glob("shadow.db-*")]
    before = {
        p: (hashlib.sha256(p.read_bytes()).hexdigest(), p.stat().st_mtime_ns)
        for p in files
        if p.exists()
    }
    assert audit_cli(store.source, store.db, tmp_path / "out").returncode == 1
    after = {p: (hashlib.sha256(p.read_bytes()).hexdigest(), p.stat().st_mtime_ns) for p in before}
    assert after == before


def test_unknown_format_is_a_usage_error(store, tmp_path):
    run = audit_cli(
        store.source,
        store.db,
        tmp_path,
        "--format",
        "pdf",
    )
    assert run.returncode == 2
    assert "--format: unknown pdf" in run.stderr


MODES = [
    "CHECK-rejected phase",
    "out-of-band JSON edit",
    "racing writer",
    "manual SQL edit",
    "deleted workspace",
]
REPORTS = [
    "report.json",
    "report.md",
    "report.html",
    "junit.xml",
    "shadow_audit.prom",
    "gate.md",
    "gate.json",
]


def test_demo_runs_end_to_end_then_a_manual_update_turns_red(tmp_path):
    import sqlite3

    demo = cli("demo", "--dir", str(tmp_path / "demo"), "--projects", "6")
    assert demo.returncode == 0, demo.stdout + demo.stderr
    out = demo.stdout
    caught = out.split("what caught each failure mode:")[1].split("4. repair")[0]
    for mode in MODES:
        line = next(line for line in caught.splitlines() if f"- {mode}" in line)
        assert "NOT CAUGHT" not in line and (
            "value_mismatch" in line or "extra_in_shadow" in line
        ), line
    assert "RED: 5 documents" in out
    assert "re-audit: GREEN" in out
    assert "GREEN: 5 documents, no findings" in out
    assert "NOT READY" in out and "FAIL  green_streak" in out
    reports = tmp_path / "demo" / "reports"
    for name in REPORTS:
        assert (reports / name).is_file(), name
    db = tmp_path / "demo" / ".vibe" / "state" / "vibe_agency.db"
    conn = sqlite3.connect(db)
    conn.execute("UPDATE session_narrative SET summary = 'tampered' WHERE id = 3")
    conn.commit()
    conn.close()
    run = audit_cli(tmp_path / "demo" / "workspaces", db, tmp_path / "out")
    assert run.returncode == 1
    assert "value_mismatch" in run.stdout


def test_demo_refuses_a_folder_that_is_not_its_own(tmp_path):
    (tmp_path / "precious.txt").write_text("keep me")
    run = cli("demo", "--dir", str(tmp_path))
    assert run.returncode == 2
    assert "is not a demo folder" in run.stderr
    assert (tmp_path / "precious.txt").read_text() == "keep me"
