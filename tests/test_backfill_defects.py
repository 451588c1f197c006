"""Defects a new user found in backfill and its options: each fails before its fix.

1. a reference-v2 database (no ``position`` column) silently lost repeated sessions;
2. a typo in ``--shadow`` / ``--history`` silently made folders;
3. ``--workers`` took any number;
4. legacy-shaped documents were skipped without a word about ``upgrade``.
"""

from __future__ import annotations

import json
import os
import sqlite3
from contextlib import closing
from pathlib import Path

import pytest

from shadow_audit.backfill import backfill
from shadow_audit.dualwrite import DualWriter
from shadow_audit.engine.run import audit
from shadow_audit.errors import DatabaseError
from shadow_audit.profiles import REFERENCE_V2_DDL
from shadow_audit.stores.json_store import JsonStore
from shadow_audit.stores.sqlite_shadow import SqliteShadow
from tests.conftest import run_cli
from tests.reference_growth import write_reference_store
from tests.upgrade.legacy import grow_gad501

# 60 sessions: the last ten are all numbered 51 (the reference numbers len(narrative) + 1)
SESSIONS = [3, 60]


def v2_database(path: Path) -> Path:
    with closing(sqlite3.connect(path)) as conn:
        conn.executescript(REFERENCE_V2_DDL)
    return path


def rows(db: Path, table: str) -> int:
    with closing(sqlite3.connect(db)) as conn:
        return int(conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0])


@pytest.fixture
def reference(tmp_path: Path) -> Path:
    source = tmp_path / "workspaces"
    write_reference_store(source, SESSIONS, seed=9)
    return source


# --- 1. a reference-v2 database ----------------------------------------------------------


def test_backfill_into_a_v2_database_refuses_naming_the_table_and_the_migration(
    tmp_path, reference
):
    db = v2_database(tmp_path / "v2.db")
    with pytest.raises(DatabaseError) as raised:
        backfill(reference, db)
    message = str(raised.value)
    assert "table session_narrative has no position column" in message
    assert f"shadow-audit repair --migrate --shadow {db}" in message
    assert rows(db, "missions") == 0 and rows(db, "session_narrative") == 0  # nothing written


def test_cli_backfill_into_a_v2_database_is_one_line_and_exit_2(tmp_path, reference):
    db = v2_database(tmp_path / "v2.db")
    done = run_cli("backfill", "--source", str(reference), "--shadow", str(db))
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "session_narrative" in lines[0]
    assert "shadow-audit repair --migrate --shadow" in lines[0]
    assert rows(db, "session_narrative") == 0


def test_backfill_migrate_keeps_every_repeated_session_and_audits_green(tmp_path, reference):
    db = v2_database(tmp_path / "v2.db")
    done = run_cli("backfill", "--source", str(reference), "--shadow", str(db), "--migrate")
    assert done.returncode == 0, done.stderr
    assert rows(db, "session_narrative") == 3 + 50
    with closing(sqlite3.connect(db)) as conn:
        repeated = conn.execute(
            "SELECT count(*) FROM session_narrative WHERE session_num = 51"
        ).fetchone()[0]
    assert repeated == 10
    result = audit(reference, db)
    assert result.findings == () and result.coverage.complete


def test_the_writer_into_a_v2_database_records_repeated_sessions_in_the_ledger(tmp_path):
    """The JSON save stands (the control); the shadow write that would lose sessions is
    refused and recorded (the candidate's failure), naming the table and the migration."""
    units = write_reference_store(tmp_path / "grown", SESSIONS, seed=9)
    db = v2_database(tmp_path / "v2.db")
    shadow = SqliteShadow(db, create=False)
    writer = DualWriter(JsonStore(tmp_path / "workspaces"), shadow)
    for manifest, memory in units.values():
        writer.save_project(manifest, memory)
    assert (tmp_path / "workspaces" / "ref-project-001" / "project_manifest.json").is_file()
    entries = writer.ledger.read().entries
    assert [e.key for e in entries] == ["ref-project-001"]
    assert "table session_narrative has no position column" in entries[0].message
    assert "shadow-audit repair --migrate" in entries[0].message
    assert rows(db, "session_narrative") == 3  # the 3-session project only, whole


def test_an_audit_of_a_v2_database_hints_at_the_migration_not_at_the_json(tmp_path, reference):
    db = v2_database(tmp_path / "v2.db")
    with closing(sqlite3.connect(db)) as conn:  # as the reference fills it: insert or ignore
        conn.execute(
            "INSERT INTO missions (mission_uuid, phase, status, created_at) "
            "VALUES ('ref-project-001', 'CODING', 'in_progress', '2026-01-01T00:00:00Z')"
        )
        conn.commit()
    result = audit(reference, db)
    dup = [f for f in result.findings if f.kind == "duplicate_key"]
    assert [f.key for f in dup] == ["ref-project-001/51"]
    assert "the key appears 10 times in the source document" in dup[0].detail
    assert f"shadow-audit repair --migrate --shadow {db} --source {reference}" in dup[0].detail


# --- 2. a typo in a folder name makes no folders ------------------------------------------


def test_backfill_into_a_missing_folder_is_exit_2_and_makes_no_folder(tmp_path, reference):
    target = tmp_path / "typo" / "dir" / "x.db"
    done = run_cli("backfill", "--source", str(reference), "--shadow", str(target))
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "--shadow" in lines[0] and str(target.parent) in lines[0]
    assert not (tmp_path / "typo").exists()


def test_backfill_of_a_missing_source_makes_no_database(tmp_path):
    db = tmp_path / "s.db"
    done = run_cli("backfill", "--source", str(tmp_path / "nope"), "--shadow", str(db))
    assert done.returncode == 2
    assert not db.exists()


def test_audit_history_in_a_missing_folder_is_exit_2_and_makes_no_folder(tmp_path, reference):
    db = tmp_path / "s.db"
    assert run_cli("backfill", "--source", str(reference), "--shadow", str(db)).returncode == 0
    history = tmp_path / "typo" / "h.db"
    done = run_cli(
        "audit", "--source", str(reference), "--shadow", str(db),
        "--out", str(tmp_path / "out"), "--history", str(history),
    )  # fmt: skip
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "--history" in lines[0] and str(history.parent) in lines[0]
    assert not (tmp_path / "typo").exists()


def test_gate_history_in_a_missing_folder_is_exit_2_and_makes_no_folder(tmp_path, reference):
    db = tmp_path / "s.db"
    assert run_cli("backfill", "--source", str(reference), "--shadow", str(db)).returncode == 0
    history = tmp_path / "typo" / "h.db"
    done = run_cli("gate", "--shadow", str(db), "--history", str(history))
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "--history" in lines[0] and str(history.parent) in lines[0]
    assert not (tmp_path / "typo").exists()


def test_the_default_shadow_may_still_make_its_folder(tmp_path, reference):
    done = run_cli("backfill", "--source", str(reference), cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert (tmp_path / ".vibe" / "state" / "vibe_agency.db").is_file()


# --- 3. --workers has a bound ---------------------------------------------------------------


@pytest.mark.parametrize("command", ["backfill", "audit"])
def test_more_workers_than_the_machine_takes_is_a_usage_error(tmp_path, reference, command):
    bound = 4 * (os.cpu_count() or 1)
    args = ["--source", str(reference), "--shadow", str(tmp_path / "s.db")]
    if command == "audit":
        args += ["--out", str(tmp_path / "out")]
    done = run_cli(command, *args, "--workers", str(bound + 1))
    assert done.returncode == 2
    assert f"argument --workers: {bound + 1} is more than {bound}" in done.stderr
    assert not (tmp_path / "s.db").exists()


def test_backfill_takes_workers_and_batch(tmp_path, reference):
    db = tmp_path / "s.db"
    done = run_cli(
        "backfill", "--source", str(reference), "--shadow", str(db), "--workers", "2",
        "--batch", "1",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert ": 2 imported, 0 unchanged;" in done.stdout
    again = run_cli("backfill", "--source", str(reference), "--shadow", str(db))
    assert ": 0 imported, 2 unchanged;" in again.stdout


# --- 4. a legacy shape points at upgrade --------------------------------------------------


def test_a_skipped_legacy_memory_names_the_upgrade_step_and_the_dry_run(tmp_path, reference):
    memory = grow_gad501(4, intents=False)
    del memory["user_intents"]
    path = reference / "workspace_000" / ".vibe" / "project_memory.json"
    path.write_text(json.dumps(memory, indent=2))
    result = backfill(reference, tmp_path / "s.db")
    [skipped] = result.skipped
    assert skipped.path == str(path)
    assert skipped.fix is not None and "gad501-memory@1" in skipped.fix
    done = run_cli("backfill", "--source", str(reference), "--shadow", str(tmp_path / "t.db"))
    assert done.returncode == 1
    assert f"skipped {path}: fixed by upgrade step(s) gad501-memory@1" in done.stdout
    assert (
        f"1 skipped document in a legacy shape: see what upgrade would change with "
        f"`shadow-audit upgrade --source {reference} --dry-run`"
    ) in done.stdout


def test_an_invalid_document_no_step_fixes_gets_no_upgrade_hint(tmp_path, reference):
    path = reference / "workspace_000" / "project_manifest.json"
    manifest = json.loads(path.read_text())
    manifest["kind"] = "Mission"
    path.write_text(json.dumps(manifest))
    result = backfill(reference, tmp_path / "s.db")
    assert [s.fix for s in result.skipped] == [None]
    done = run_cli("backfill", "--source", str(reference), "--shadow", str(tmp_path / "t.db"))
    assert "upgrade" not in done.stdout
