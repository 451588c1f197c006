"""audit --incremental: the change record, each reason to audit in full, the CLI, the gate.

Real stores in tmp_path written by the real writer; out-of-band changes through a plain
``sqlite3`` connection and plain file writes; the CLI as a subprocess where exit codes
matter.
"""

from __future__ import annotations

import json
import shutil
import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path

import jsonschema
import pytest

from shadow_audit.config import Config
from shadow_audit.engine import incremental
from shadow_audit.engine.findings import AuditResult
from shadow_audit.engine.incremental import STATE_NAME, signatures
from shadow_audit.engine.run import audit
from shadow_audit.errors import UsageError
from shadow_audit.gate import GatePolicy, decide
from shadow_audit.profiles import REFERENCE
from shadow_audit.report.history import History
from shadow_audit.report.markdown import mode_line
from shadow_audit.stores.changes import CHANGES_TABLE, trigger_sql
from shadow_audit.stores.sqlite_shadow import SqliteShadow
from tests.conftest import Store, audit_cli, make_store, wait_for

SCHEMA = Path(__file__).resolve().parents[2] / "schemas" / "audit_report.schema.json"


def run(store: Store, state: Path, **kw: object) -> AuditResult:
    return audit(store.source, store.db, incremental=True, state=state, **kw)  # type: ignore[arg-type]


def fallback(result: AuditResult) -> str:
    assert result.mode == "full" and result.incremental is not None
    return result.incremental.fallback or ""


def changes(store: Store) -> dict[str, int]:
    return dict(store.sql(f"SELECT unit, seq FROM {CHANGES_TABLE}"))


# --- the change record ---------------------------------------------------------------


def test_the_ddl_makes_the_triggers_and_every_write_notes_its_unit(store):
    have = dict(store.sql("SELECT name, sql FROM sqlite_master WHERE type = 'trigger'"))
    assert {n: have.get(n) for n in trigger_sql(REFERENCE)} == trigger_sql(REFERENCE)
    before = changes(store)
    store.sql("UPDATE session_narrative SET summary = 'x' WHERE id = 1")
    (unit,) = store.sql(
        "SELECT m.mission_uuid FROM session_narrative s JOIN missions m ON m.id = s.mission_id "
        "WHERE s.id = 1"
    )[0]
    after = changes(store)
    assert after[unit] > max(before.values())
    assert {k: v for k, v in after.items() if k != unit} == {
        k: v for k, v in before.items() if k != unit
    }


def test_a_key_update_notes_the_old_key_and_the_new_one(store):
    top = max(changes(store).values())
    store.sql("UPDATE missions SET mission_uuid = 'renamed' WHERE mission_uuid = 'proj-000001'")
    after = changes(store)
    assert after["renamed"] > top and after["proj-000001"] > top


def test_the_record_holds_one_row_per_key_however_many_writes(store):
    rows = len(changes(store))
    for i in range(30):
        store.sql("UPDATE missions SET owner = ? WHERE mission_uuid = 'proj-000002'", f"o{i}")
    assert len(changes(store)) == rows


def test_repair_migrate_gives_a_reference_v2_database_its_triggers(tmp_path):
    store = make_store(tmp_path, 3, reference_v2=True)
    assert store.sql("SELECT name FROM sqlite_master WHERE type = 'trigger'") == []
    SqliteShadow(store.db, create=False).migrate()
    have = dict(store.sql("SELECT name, sql FROM sqlite_master WHERE type = 'trigger'"))
    assert {n: have.get(n) for n in trigger_sql(REFERENCE)} == trigger_sql(REFERENCE)


def test_the_auditor_does_not_write_to_the_shadow(store, tmp_path):
    run(store, tmp_path / "state.db")
    store.sql("UPDATE missions SET owner = 'x' WHERE mission_uuid = 'proj-000001'")
    before = store.db.read_bytes()
    assert run(store, tmp_path / "state.db").mode == "incremental"
    assert store.db.read_bytes() == before


# --- what an incremental run reads ---------------------------------------------------


def test_the_stat_walk_on_two_processes_gives_the_signatures_of_one(store, monkeypatch):
    """A large store's stat walk is split over two processes: the same signatures, a
    symlinked document's untrusted mark and a memory beside the manifest included."""
    memory = store.source / "proj-000001" / ".vibe" / "project_memory.json"
    memory.rename(store.source / "proj-000001" / "project_memory.json")
    manifest = store.manifest_path("proj-000002")
    (store.root / "elsewhere.json").write_bytes(manifest.read_bytes())
    manifest.unlink()
    manifest.symlink_to(store.root / "elsewhere.json")
    wait_for(
        lambda: sum(s.endswith("?") for s in signatures(store.source, REFERENCE).values()) == 1,
        "the documents to be older than the racy window",
    )
    one = signatures(store.source, REFERENCE)
    monkeypatch.setattr(incremental, "PARALLEL_STAT_MIN", 2)
    monkeypatch.setattr(incremental.os, "cpu_count", lambda: 2)
    assert signatures(store.source, REFERENCE) == one
    assert len(one) == 5 and one[str(manifest)].endswith("?")


def test_no_change_reads_nothing_and_one_change_reads_one_unit(store, tmp_path):
    state = tmp_path / "state.db"
    first = run(store, state)
    assert fallback(first).startswith("no state yet")
    # a file written within RACY_SECONDS of a walk is not trusted by it: once no file is
    # that young, one run records trusted signatures and the next reads nothing
    wait_for(
        lambda: not any(s.endswith("?") for s in signatures(store.source, REFERENCE).values()),
        "the documents to be older than the racy window",
    )
    run(store, state)
    quiet = run(store, state)
    assert quiet.mode == "incremental" and quiet.incremental is not None
    assert (quiet.incremental.units_audited, quiet.incremental.documents_reread) == (0, 0)
    store.sql("UPDATE missions SET owner = 'x' WHERE mission_uuid = 'proj-000003'")
    one = run(store, state)
    assert one.incremental is not None
    assert (one.incremental.units_audited, one.incremental.shadow_keys_changed) == (1, 1)
    assert mode_line(one) == (
        "incremental: 1 unit audited, 2 documents re-read, 1 shadow key changed"
    )
    assert [(f.kind, f.key, f.field) for f in one.findings] == [
        ("value_mismatch", "proj-000003", "owner")
    ]
    assert one.recheck is not None and one.recheck.units == 1  # the re-check still applies


def test_an_unchanged_document_is_not_validated_twice(store, tmp_path):
    state = tmp_path / "state.db"
    run(store, state)
    path = store.manifest_path("proj-000002")
    data = path.read_bytes()
    path.write_bytes(data)  # same content, new stat signature
    run(store, state)
    with sqlite3.connect(state) as conn:
        cached = conn.execute("SELECT count(*) FROM verdicts").fetchone()[0]
    assert cached >= 1
    path.write_bytes(data)
    again = run(store, state)
    assert again.incremental is not None and again.incremental.documents_reread >= 1
    with sqlite3.connect(state) as conn:
        assert conn.execute("SELECT count(*) FROM verdicts").fetchone()[0] == cached


def test_a_document_made_invalid_is_reported_by_the_incremental_run(store, tmp_path):
    state = tmp_path / "state.db"
    run(store, state)
    path = store.manifest_path("proj-000004")
    doc = json.loads(path.read_bytes())
    doc["status"]["projectPhase"] = "DONE"
    path.write_text(json.dumps(doc))
    result = run(store, state)
    assert result.mode == "incremental"
    assert [(f.kind, f.key) for f in result.findings] == [("invalid_source", "proj-000004")]


# --- each reason to audit in full ----------------------------------------------------


def test_a_corrupt_state_file_is_a_full_audit_with_the_reason_not_a_crash(store, tmp_path):
    state = tmp_path / "state.db"
    state.write_bytes(b"this is not a state file" * 100)
    assert "cannot be read" in fallback(run(store, state))
    assert run(store, state).mode == "incremental"  # the full run wrote a new one


def test_an_unfinished_state_is_a_full_audit(store, tmp_path):
    state = tmp_path / "state.db"
    run(store, state)
    with sqlite3.connect(state) as conn:
        conn.execute("DELETE FROM meta WHERE name = 'complete'")
    assert "unfinished" in fallback(run(store, state))


def test_a_missing_trigger_is_a_full_audit(store, tmp_path):
    state = tmp_path / "state.db"
    run(store, state)
    store.sql('DROP TRIGGER "shadow_audit_change_domain_concepts_del"')
    assert "shadow_audit_change_domain_concepts_del is missing" in fallback(run(store, state))
    assert "repair --migrate" in fallback(run(store, state))  # and every run until repaired


def test_an_altered_trigger_is_a_full_audit(store, tmp_path):
    state = tmp_path / "state.db"
    run(store, state)
    store.sql('DROP TRIGGER "shadow_audit_change_missions_upd"')
    store.sql(
        'CREATE TRIGGER "shadow_audit_change_missions_upd" AFTER UPDATE ON missions '
        "BEGIN SELECT 1; END"
    )
    assert "shadow_audit_change_missions_upd is altered" in fallback(run(store, state))


def test_triggers_made_again_are_a_full_audit(store, tmp_path):
    state = tmp_path / "state.db"
    run(store, state)
    store.sql('DROP TRIGGER "shadow_audit_change_missions_upd"')
    store.sql("UPDATE missions SET owner = 'unseen' WHERE mission_uuid = 'proj-000001'")
    SqliteShadow(store.db)  # the DDL makes the trigger again
    result = run(store, state)
    assert "made again" in fallback(result)
    assert [(f.key, f.field) for f in result.findings] == [("proj-000001", "owner")]


def test_a_reference_v2_database_says_run_repair_migrate(tmp_path):
    store = make_store(tmp_path, 3, reference_v2=True)
    assert "no state yet" in fallback(run(store, tmp_path / "state.db"))
    again = fallback(run(store, tmp_path / "state.db"))
    assert "no change record" in again and "run repair --migrate" in again


def test_a_replaced_database_is_a_full_audit(store, tmp_path):
    state = tmp_path / "state.db"
    run(store, state)
    other = make_store(tmp_path / "other", 5)
    shutil.copy(other.db, store.db)
    assert "database was replaced" in fallback(run(store, state))


def test_a_state_of_another_config_is_a_full_audit(store, tmp_path):
    state = tmp_path / "state.db"
    run(store, state)
    assert "config" in fallback(run(store, state, config=Config(validate=False)))


def test_full_every_forces_a_full_audit(store, tmp_path):
    state = tmp_path / "state.db"
    run(store, state)
    assert run(store, state, full_every=24).mode == "incremental"
    assert "--full-every 0" in fallback(run(store, state, full_every=0))


@pytest.mark.parametrize("bad", [-1, float("nan"), float("inf"), True])
def test_full_every_must_be_hours(store, tmp_path, bad):
    with pytest.raises(UsageError, match="--full-every"):
        run(store, tmp_path / "state.db", full_every=bad)


def test_incremental_needs_a_state_file(store):
    with pytest.raises(UsageError, match="state"):
        audit(store.source, store.db, incremental=True)


def test_a_key_held_by_two_folders_is_a_full_audit(store, tmp_path):
    state = tmp_path / "state.db"
    run(store, state)
    twin = store.source / "twin"
    twin.mkdir()
    shutil.copy(store.manifest_path("proj-000001"), twin / "project_manifest.json")
    result = run(store, state)
    assert "held by more than one folder" in fallback(result)
    assert any(f.kind == "duplicate_key" for f in result.findings)


# --- the CLI, the report, the history and the gate -----------------------------------


def test_cli_incremental_exit_codes_report_and_history(store, tmp_path):
    out, history = tmp_path / "out", tmp_path / "history.db"
    args = ("--incremental", "--history", str(history), "--format", "json,md")
    first = audit_cli(store.source, store.db, out, *args)
    assert first.returncode == 0, first.stderr
    assert "audited in full: no state yet" in first.stderr
    assert (out / STATE_NAME).is_file()
    store.sql("UPDATE missions SET owner = 'x' WHERE mission_uuid = 'proj-000002'")
    second = audit_cli(store.source, store.db, out, *args)
    assert second.returncode == 1, second.stderr
    assert "audited in full" not in second.stderr
    report = json.loads((out / "report.json").read_text())
    jsonschema.validate(report, json.loads(SCHEMA.read_text()))
    assert report["mode"] == "incremental"
    assert report["incremental"]["units_audited"] == 1
    assert report["incremental"]["shadow_keys_changed"] == 1
    assert "- mode: incremental" in (out / "report.md").read_text()
    assert [r.mode for r in History(history).runs()] == ["incremental", "full"]
    (out / STATE_NAME).write_bytes(b"garbage")
    third = audit_cli(store.source, store.db, out, *args)
    assert third.returncode == 1
    assert "audited in full: state" in third.stderr


@pytest.mark.parametrize("bad", ["-1", "soon", "inf"])
def test_cli_full_every_must_be_hours(store, tmp_path, bad):
    done = audit_cli(store.source, store.db, tmp_path / "out", "--incremental", "--full-every", bad)
    assert done.returncode == 2
    assert "--full-every" in done.stderr
    assert not (tmp_path / "out").exists()


def test_the_gate_needs_a_full_audit_within_its_window(store, tmp_path):
    history = History(tmp_path / "history.db")
    state = tmp_path / "state.db"
    history.record(run(store, state))
    for _ in range(3):
        history.record(run(store, state))
    runs = history.runs()
    assert [r.mode for r in runs] == ["incremental"] * 3 + ["full"]
    policy = GatePolicy(min_green_runs=1, min_days=0)
    latest = datetime.fromisoformat(runs[0].finished_at.replace("Z", "+00:00"))
    assert decide(runs, policy=policy, now=latest).ready
    later = decide(runs[:3], policy=policy, now=latest)
    assert [r.check for r in later.reasons if not r.passed] == ["full_audit"]
    late = decide(runs, policy=policy, now=latest + timedelta(hours=49))
    assert "full_audit" in {r.check for r in late.reasons if not r.passed}
    assert latest.tzinfo == UTC or latest.utcoffset() == timedelta(0)
