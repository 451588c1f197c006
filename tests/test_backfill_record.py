"""The backfill and the change record: its triggers set aside per batch, never lost.

A bulk import notes its units itself (a trigger per row would cost more than the rows);
these tests hold that the triggers come back exactly as they were, that the record
then lists what the triggers would have listed, and that altered triggers are left to
fire as they are.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from shadow_audit.backfill import backfill
from shadow_audit.engine.run import audit
from shadow_audit.profiles import REFERENCE
from shadow_audit.stores.changes import CHANGES_TABLE, trigger_sql, triggers_set_aside
from shadow_audit.stores.sqlite_shadow import SqliteShadow
from tests.reference_growth import write_reference_store

SESSIONS = [4, 0, 12, 55, 3, 7, 1, 9]


def sql(db: Path, statement: str, *args: object) -> list[tuple]:
    conn = sqlite3.connect(db, isolation_level=None)
    try:
        return conn.execute(statement, args).fetchall()
    finally:
        conn.close()


def triggers(db: Path) -> list[tuple[str, str]]:
    return sql(db, "SELECT name, sql FROM sqlite_master WHERE type = 'trigger' ORDER BY name")


def record(db: Path) -> dict[str, int]:
    return dict(sql(db, f"SELECT unit, seq FROM {CHANGES_TABLE}"))


@pytest.fixture
def source(tmp_path: Path) -> Path:
    write_reference_store(tmp_path / "src", SESSIONS, seed=5)
    return tmp_path / "src"


def test_the_triggers_come_back_as_they_were_and_fire_after_the_backfill(source, tmp_path):
    db = tmp_path / "shadow.db"
    SqliteShadow(db)
    before = triggers(db)
    assert dict(before) == trigger_sql(REFERENCE)
    backfill(source, db, workers=1, batch=3)
    assert triggers(db) == before
    top = max(record(db).values())
    sql(db, "UPDATE domain_concepts SET concept = 'x' WHERE id = 1")
    (unit,) = sql(
        db,
        "SELECT mission_uuid FROM missions WHERE id = "
        "(SELECT mission_id FROM domain_concepts WHERE id = 1)",
    )[0]
    after = record(db)
    assert after[unit] > top  # an UPDATE notes the old row's unit and the new one's
    assert {k for k in after if after[k] > top} == {unit}


def test_the_record_numbers_each_unit_written_once_past_what_it_held(source, tmp_path):
    db = tmp_path / "shadow.db"
    SqliteShadow(db)
    first = backfill(source, db, workers=1, batch=3)
    held = record(db)
    keys = {k for (k,) in sql(db, "SELECT mission_uuid FROM missions")}
    ids = {f"<orphan {i}>" for (i,) in sql(db, "SELECT id FROM missions")}
    assert set(held) == keys | ids and first.imported == len(keys) == len(SESSIONS)
    assert sorted(held.values()) == list(range(1, len(held) + 1))

    memory = source / "workspace_002" / ".vibe" / "project_memory.json"
    memory.write_text(memory.read_text().replace('"session": 3,', '"session": 33,', 1))
    again = backfill(source, db, workers=1, batch=3)
    assert again.imported == 1
    after = record(db)
    moved = {k for k in after if after[k] != held[k]}
    assert moved == {"ref-project-002"} and after["ref-project-002"] == max(held.values()) + 1


def test_an_incremental_audit_sees_the_units_a_backfill_wrote(source, tmp_path):
    """The JSON side is unchanged (its signatures hold): only the record can say that the
    shadow's rows of every unit were written."""
    db, state = tmp_path / "shadow.db", tmp_path / "state.db"
    SqliteShadow(db)
    before = audit(source, db, incremental=True, state=state)
    assert before.mode == "full" and {f.kind for f in before.findings} == {"missing_in_shadow"}
    backfill(source, db, workers=1, batch=3)
    after = audit(source, db, incremental=True, state=state)
    assert after.mode == "incremental" and after.incremental is not None
    # each unit's key, and the <orphan N> of each new mission id (as its trigger notes)
    assert after.incremental.shadow_keys_changed == 2 * len(SESSIONS)
    assert after.incremental.units_audited == len(SESSIONS)
    full = audit(source, db)
    assert after.findings == full.findings == ()


def test_altered_triggers_are_not_set_aside_they_fire_as_they_are(tmp_path):
    """Opening the shadow makes the triggers again; one altered after that (by another
    client, between the open and a batch) is left to fire as it is."""
    db = tmp_path / "shadow.db"
    SqliteShadow(db)
    name = "shadow_audit_change_missions_ins"
    altered = (
        f'CREATE TRIGGER "{name}" AFTER INSERT ON "missions" BEGIN\n'
        "  INSERT INTO seen (key) VALUES (NEW.mission_uuid);\nEND"
    )
    conn = sqlite3.connect(db, isolation_level=None)
    try:
        conn.executescript(f'CREATE TABLE seen (key TEXT); DROP TRIGGER "{name}"; {altered};')
        before = triggers(db)
        conn.execute("BEGIN IMMEDIATE")
        with triggers_set_aside(conn, REFERENCE) as aside:
            assert aside is False
            conn.execute(
                "INSERT INTO missions (mission_uuid, phase, status, created_at) "
                "VALUES ('k', 'CODING', 'in_progress', '2026-01-01')"
            )
        conn.execute("COMMIT")
    finally:
        conn.close()
    assert triggers(db) == before
    assert sql(db, "SELECT key FROM seen") == [("k",)]


def test_a_block_that_fails_leaves_the_triggers_and_outside_a_transaction_none_are_dropped(
    tmp_path,
):
    db = tmp_path / "shadow.db"
    SqliteShadow(db)
    before = triggers(db)
    conn = sqlite3.connect(db, isolation_level=None)
    try:
        with triggers_set_aside(conn, REFERENCE) as aside:
            assert aside is False  # not in a transaction: nothing is set aside
            assert triggers(db) == before
        conn.execute("BEGIN IMMEDIATE")
        with pytest.raises(RuntimeError), triggers_set_aside(conn, REFERENCE) as aside:
            assert aside is True
            assert conn.execute(
                "SELECT count(*) FROM sqlite_master WHERE type = 'trigger'"
            ).fetchone() == (0,)
            raise RuntimeError("the import failed")
        assert (
            conn.execute(
                "SELECT name, sql FROM sqlite_master WHERE type = 'trigger' ORDER BY name"
            ).fetchall()
            == before
        )
        conn.execute("ROLLBACK")
    finally:
        conn.close()
    assert triggers(db) == before
