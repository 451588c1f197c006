"""How the backfill writes a batch, each case against what the writer does unit by unit:
a batch that fails and is written again one unit per transaction, a unit saved between
a worker's read and the batch's transaction, the dual writer saving while a backfill
runs in another process, and a twin project whose rows a worker sent with the rest."""

from __future__ import annotations

import json
import random
import shutil
import sqlite3
import subprocess
import sys
from contextlib import closing
from datetime import datetime
from pathlib import Path

import pytest

from shadow_audit.backfill import backfill
from shadow_audit.stores.bulk import table_layouts
from shadow_audit.stores.json_store import JsonStore
from shadow_audit.stores.sqlite_shadow import SqliteShadow
from tests.reference_growth import write_reference_store
from tests.test_backfill import dump, import_unit_by_unit


def writer_error(source: Path, db: Path, folder: str) -> str:
    """The reason a unit's write fails when the writer writes it alone."""
    store, shadow = JsonStore(source), SqliteShadow(db)
    unit = next(u for u in store.units() if u.name == folder)
    manifest = store.read(unit.primary)
    memory = store.read(unit.primary.parent / ".vibe" / "project_memory.json")
    key = manifest["metadata"]["projectId"]
    with pytest.raises(Exception) as raised, shadow.transaction() as conn:
        shadow.write(conn, key, {"manifest": manifest, "memory": memory})
    return f"shadow write failed: {type(raised.value).__name__}: {raised.value}"


@pytest.mark.parametrize(
    "sessions", [[0, 3, 0], [3, 0, 0], [0, 0, 3]], ids=["middle", "first", "last"]
)
def test_a_failed_batch_written_again_unit_by_unit_uses_the_rows_as_sent(tmp_path, sessions):
    """A worker's batch whose transaction fails (a session number past SQLite's integers,
    valid by the schema) is written again one unit per transaction, from the same flat
    rows: the failing unit is reported with the writer's own error, the others written
    as the writer writes them."""
    source = tmp_path / "src"
    write_reference_store(source, sessions, seed=11)
    bad = next(
        f for f, n in zip([f"workspace_{i:03d}" for i in range(3)], sessions, strict=True) if n
    )
    path = source / bad / ".vibe" / "project_memory.json"
    memory = json.loads(path.read_text())
    memory["narrative"][-1]["session"] = 2**63  # an integer SQLite cannot hold
    path.write_text(json.dumps(memory, indent=2))
    SqliteShadow(tmp_path / "base.db")
    for name in ("ref.db", "fast.db", "alone.db"):
        shutil.copy(tmp_path / "base.db", tmp_path / name)
    reason = writer_error(source, tmp_path / "alone.db", bad)

    result = backfill(source, tmp_path / "fast.db", workers=2, batch=len(sessions))
    assert [(s.path, s.reasons) for s in result.skipped] == [
        (str(source / bad / "project_manifest.json"), (reason,))
    ]
    assert result.imported == len(sessions) - 1
    store, shadow = JsonStore(source), SqliteShadow(tmp_path / "ref.db")
    for unit in store.units():  # the others, as the writer writes them
        if unit.name != bad:
            manifest = store.read(unit.primary)
            with shadow.transaction() as conn:
                shadow.write(conn, manifest["metadata"]["projectId"], {"manifest": manifest})
    assert dump(tmp_path / "fast.db") == dump(tmp_path / "ref.db")


def test_a_memory_saved_after_a_worker_read_its_unit_without_one_is_written(tmp_path, monkeypatch):
    """A unit a worker read with no memory (nothing of it among the flat rows) gets one
    saved before the batch's transaction: read again there, its memory's rows are written
    beside the rows the other units' memories sent flat."""
    module = sys.modules["shadow_audit.backfill"]
    reading = sys.modules["shadow_audit.backfill_read"]
    source = tmp_path / "src"
    grown = write_reference_store(source, [5, 0, 3], seed=8)
    store = JsonStore(source)
    SqliteShadow(tmp_path / "base.db")
    for name in ("ref.db", "s.db"):
        shutil.copy(tmp_path / "base.db", tmp_path / name)
    shadow = SqliteShadow(tmp_path / "s.db")
    with shadow.connection() as conn:
        reader = reading.UnitReader(store, table_layouts(shadow, conn))
        units = store.units()
        monkeypatch.setattr(reading, "_worker_reader", reader)
        reads, flat = reading._unpack(reading._read_chunk(units), reader.layouts)
        batch = reading.Batch(list(zip(units, reads, strict=True)), flat)
        # the unit without a memory gets one (its neighbour's, with its own project id)
        memory = grown["workspace_000"][1]
        saved = {**memory, "project_id": "ref-project-001"}
        (source / "workspace_001" / ".vibe").mkdir()
        store.write(source / "workspace_001" / ".vibe" / "project_memory.json", saved)
        tally = module._Tally()
        module._write_batch(shadow, conn, reader, batch, tally)
    assert (tally.imported, tally.skipped) == (3, [])
    import_unit_by_unit(source, tmp_path / "ref.db")
    assert dump(tmp_path / "s.db") == dump(tmp_path / "ref.db")


RUN_BACKFILL = """
import sys
from shadow_audit.backfill import backfill
result = backfill(sys.argv[1], sys.argv[2], workers=2, batch=2)
print(result.units, result.imported + result.unchanged, len(result.skipped))
"""


def written(db: Path) -> int:
    """The missions a backfill has committed so far."""
    with closing(sqlite3.connect(f"file:{db}?mode=ro", uri=True)) as conn:
        return int(conn.execute("SELECT count(*) FROM missions").fetchone()[0])


@pytest.mark.slow  # a backfill in another process while the writer saves: a race test
def test_writer_saves_during_a_backfill_leave_the_shadow_equal_to_the_json(tmp_path):
    """The dual writer saves memories (to units the workers read with no memory, and to
    units that had one) while a backfill runs in another process: whatever the order,
    the shadow ends equal to the JSON, and an incremental audit agrees with a full one."""
    from shadow_audit.dualwrite import DualWriter
    from shadow_audit.engine.run import audit
    from tests.reference_growth import Clock, grow

    source, db = tmp_path / "src", tmp_path / "shadow.db"
    sessions = [0 if i % 3 == 0 else 1 + i % 4 for i in range(600)]
    write_reference_store(source, sessions, seed=21)
    SqliteShadow(db)
    audit(source, db, incremental=True, state=tmp_path / "state.db")  # the state's start
    rng = random.Random(5)
    clock = Clock(rng, datetime(2026, 6, 1))
    memories = [  # grown before the run: a save is then only the writer's work
        grow(tmp_path / "grown" / f"workspace_{i:03d}", n + 2, rng, clock)
        for i, n in enumerate(sessions)
    ]
    child = subprocess.Popen(
        [sys.executable, "-c", RUN_BACKFILL, str(source), str(db)],
        stdout=subprocess.PIPE,
        text=True,
    )
    writer = DualWriter(JsonStore(source), SqliteShadow(db))
    saved: set[int] = set()
    try:
        while child.poll() is None:
            # a unit just ahead of the backfill: one the workers may have read already
            i = written(db) + rng.randrange(0, 30)
            if i >= len(sessions) or i in saved:
                continue
            folder = f"workspace_{i:03d}"
            manifest = json.loads((source / folder / "project_manifest.json").read_text())
            result = writer.save_project(manifest, memories[i], workspace=folder)
            assert result.failure is None
            saved.add(i)
    finally:
        out, _ = child.communicate(timeout=300)
    assert child.returncode == 0 and out.split() == [str(len(sessions)), str(len(sessions)), "0"]
    assert saved  # the writer saved while the backfill process ran
    full = audit(source, db)
    assert full.findings == ()
    after = audit(source, db, incremental=True, state=tmp_path / "state.db")
    assert after.findings == full.findings


@pytest.mark.parametrize("twin", ["workspace_000a", "workspace_001"], ids=["after", "before"])
def test_a_twin_with_its_own_memory_in_the_same_batch_is_skipped_as_unit_by_unit(tmp_path, twin):
    """Two folders hold the same project id, each with a memory, in one worker's batch:
    the first is imported (its rows sent flat), the second skipped, its rows nowhere."""
    source = tmp_path / "src"
    write_reference_store(source, [3, 0, 5, 2], seed=17)
    (source / "workspace_001").rename(source / "spare")  # the twin takes a place in order
    shutil.copytree(source / "workspace_002", source / twin)
    memory = source / twin / ".vibe" / "project_memory.json"
    doc = json.loads(memory.read_text())
    doc["narrative"][0]["summary"] = "the twin's own"
    memory.write_text(json.dumps(doc, indent=2))
    SqliteShadow(tmp_path / "base.db")
    for name in ("ref.db", "fast.db"):
        shutil.copy(tmp_path / "base.db", tmp_path / name)
    skipped = import_unit_by_unit(source, tmp_path / "ref.db")
    result = backfill(source, tmp_path / "fast.db", workers=2, batch=10)
    assert {s.path for s in result.skipped} == skipped
    assert len(skipped) == 1
    assert dump(tmp_path / "fast.db") == dump(tmp_path / "ref.db")
