"""The backfill and the change record: its triggers set aside per batch, never lost.

A bulk import notes its units itself (a trigger per row would cost more than the rows);
these tests hold that the triggers come back exactly as they were (a failed batch
included), that each run notes the units the triggers would have noted, and that
altered triggers are left to fire as they are.
"""

from __future__ import annotations

import json
import shutil
import sqlite3
from contextlib import closing
from pathlib import Path

import pytest

from shadow_audit.backfill import backfill
from shadow_audit.engine.run import audit
from shadow_audit.profiles import REFERENCE
from shadow_audit.stores.changes import CHANGES_TABLE, trigger_sql, triggers_set_aside
from shadow_audit.stores.sqlite_shadow import SqliteShadow
from tests.conftest import run_sql
from tests.reference_growth import write_reference_store
from tests.test_backfill import (
    edit_store,
    import_unit_by_unit,
    reference_store_with_bad_documents,
)

SESSIONS = [4, 0, 12, 55, 3, 7, 1, 9]


def triggers(db: Path) -> list[tuple[str, str]]:
    return run_sql(db, "SELECT name, sql FROM sqlite_master WHERE type = 'trigger' ORDER BY name")


def record(db: Path) -> dict[str, int]:
    return dict(run_sql(db, f"SELECT unit, seq FROM {CHANGES_TABLE}"))


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
    run_sql(db, "UPDATE domain_concepts SET concept = 'x' WHERE id = 1")
    (unit,) = run_sql(
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
    keys = {k for (k,) in run_sql(db, "SELECT mission_uuid FROM missions")}
    ids = {f"<orphan {i}>" for (i,) in run_sql(db, "SELECT id FROM missions")}
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
    # each unit's key (the <orphan N> noted for each new mission id owns no rows)
    assert after.incremental.shadow_keys_changed == len(SESSIONS)
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
    assert run_sql(db, "SELECT key FROM seen") == [("k",)]


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


def edit_again(source: Path) -> None:
    """A second round: a manifest's phase moved, a session appended, concepts emptied."""
    path = source / "workspace_008" / "project_manifest.json"
    doc = json.loads(path.read_text())
    doc["status"]["projectPhase"] = "DEPLOYMENT"
    path.write_text(json.dumps(doc, indent=2))
    path = source / "workspace_011" / ".vibe" / "project_memory.json"
    doc = json.loads(path.read_text())
    doc["narrative"].append({**doc["narrative"][-1], "summary": "one more"})
    doc["domain"]["concepts"] = []
    path.write_text(json.dumps(doc, indent=2))


def noted_after(db: Path, top: int) -> set[str]:
    with closing(sqlite3.connect(db)) as conn:
        rows = conn.execute("SELECT unit FROM shadow_audit_changes WHERE seq > ?", (top,))
        return {unit for (unit,) in rows}


def top_seq(db: Path) -> int:
    with closing(sqlite3.connect(db)) as conn:
        return int(
            conn.execute("SELECT coalesce(max(seq), 0) FROM shadow_audit_changes").fetchone()[0]
        )


@pytest.mark.parametrize("workers", [1, 2])
def test_each_run_notes_the_units_the_writers_triggers_note(tmp_path, workers):
    """What an incremental audit reads is the units noted since its last run: after each
    backfill, the same units as the writer's triggers note writing unit by unit (edits,
    deletions, a mended manifest, and child rows already waiting for a mission id)."""
    source = tmp_path / "src"
    reference_store_with_bad_documents(source)
    SqliteShadow(tmp_path / "base.db")
    with closing(sqlite3.connect(tmp_path / "base.db")) as conn, conn:
        # rows left by another client for mission ids not given yet: <orphan N> units
        for mission in (3, 40):
            conn.execute(
                "INSERT INTO domain_concerns (mission_id, concern, timestamp) "
                "VALUES (?, 'left over', '2026-01-01')",
                (mission,),
            )
    for name in ("ref.db", "fast.db"):
        shutil.copy(tmp_path / "base.db", tmp_path / name)
    for edit in (None, edit_store, edit_again):
        if edit is not None:
            edit(source)
        tops = {name: top_seq(tmp_path / name) for name in ("ref.db", "fast.db")}
        import_unit_by_unit(source, tmp_path / "ref.db")
        backfill(source, tmp_path / "fast.db", workers=workers, batch=4)
        want = noted_after(tmp_path / "ref.db", tops["ref.db"])
        assert noted_after(tmp_path / "fast.db", tops["fast.db"]) == want
        assert top_seq(tmp_path / "fast.db") - tops["fast.db"] == len(want)


def test_a_batch_that_fills_the_disk_leaves_the_triggers_and_writes_nothing(tmp_path):
    """SQLITE_FULL in the middle of a batch (the database at its page limit): the batch
    is rolled back, the triggers set aside for it are there again, and the next write
    through any client is noted by them."""
    from shadow_audit.backfill_read import UnitReader
    from shadow_audit.stores.bulk import import_units, table_layouts
    from shadow_audit.stores.json_store import JsonStore

    source = tmp_path / "src"
    write_reference_store(source, [60, 55, 51, 60], seed=4)
    store = JsonStore(source)
    shadow = SqliteShadow(tmp_path / "s.db")
    with shadow.connection() as conn:
        layouts = table_layouts(shadow, conn)
        reads = [UnitReader(store, layouts).read(u) for u in store.units()]
        pages = conn.execute("PRAGMA page_count").fetchone()[0]
        conn.execute(f"PRAGMA max_page_count = {pages + 3}")
        with pytest.raises(sqlite3.OperationalError, match="full"), shadow.transaction(conn):
            import_units(
                shadow, conn, layouts=layouts, units=[(str(r.key), r.tables) for r in reads]
            )
        assert not conn.in_transaction
    with closing(sqlite3.connect(tmp_path / "s.db", isolation_level=None)) as conn:
        held = dict(conn.execute("SELECT name, sql FROM sqlite_master WHERE type = 'trigger'"))
        assert held == trigger_sql(shadow.mapping)
        assert conn.execute("SELECT count(*) FROM missions").fetchone() == (0,)
        assert conn.execute("SELECT count(*) FROM shadow_audit_changes").fetchone() == (0,)
        conn.execute(
            "INSERT INTO missions (mission_uuid, phase, status, created_at) "
            "VALUES ('k', 'CODING', 'in_progress', '2026-01-01')"
        )
        noted = conn.execute("SELECT unit FROM shadow_audit_changes ORDER BY unit").fetchall()
    assert noted == [("<orphan 1>",), ("k",)]
