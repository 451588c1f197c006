"""Backfill: imports what is valid, reports what is not, changes nothing the second time."""

from __future__ import annotations

import os
import shutil
import signal
import sqlite3
import subprocess
import sys
from pathlib import Path

import orjson
import pytest

from shadow_audit.backfill import backfill
from shadow_audit.errors import ShadowAuditError
from shadow_audit.mapping.projection import stored
from shadow_audit.profiles import REFERENCE
from shadow_audit.stores.changes import trigger_sql
from shadow_audit.stores.json_store import JsonStore, locate
from shadow_audit.stores.sqlite_shadow import SqliteShadow
from shadow_audit.synth import make_projects
from shadow_audit.validation import validate_document
from tests.conftest import run_cli, wait_for
from tests.reference_growth import write_reference_store

TABLES = ["missions", "session_narrative", "domain_concepts", "domain_concerns", "trajectory"]


def contents(db) -> dict[str, list[tuple]]:
    conn = sqlite3.connect(db)
    try:
        return {t: conn.execute(f"SELECT * FROM {t} ORDER BY id").fetchall() for t in TABLES}
    finally:
        conn.close()


def write_json_only(root, projects) -> JsonStore:
    store = JsonStore(root)
    for manifest, memory in projects:
        pid = manifest["metadata"]["projectId"]
        store.write(store.path_for(pid, "manifest"), manifest)
        store.write(store.path_for(pid, "memory"), memory)
    return store


@pytest.mark.slow
def test_thousand_projects_backfilled_then_imported_again_are_identical(tmp_path):
    projects = make_projects(1000, seed=11, sessions=3, concepts=3, concerns=2)
    store = write_json_only(tmp_path / "src", projects)
    shadow = SqliteShadow(tmp_path / "s.db")
    first = backfill(store, shadow)
    assert (first.units, first.imported, first.skipped) == (1000, 1000, ())
    after_backfill = contents(tmp_path / "s.db")
    assert len(after_backfill["missions"]) == 1000
    for manifest, memory in projects:
        shadow.import_manifest(manifest, memory)
    assert contents(tmp_path / "s.db") == after_backfill
    again = backfill(store, shadow)
    assert (again.imported, again.unchanged, again.partial) == (0, 1000, 0)
    assert contents(tmp_path / "s.db") == after_backfill


def test_invalid_documents_are_reported_and_the_rest_imported(tmp_path):
    projects = make_projects(4, seed=2, sessions=2, concepts=2, concerns=1)
    projects[1][0]["status"]["projectPhase"] = "DONE"
    projects[2][1]["narrative"][0]["session"] = "one"
    store = write_json_only(tmp_path / "src", projects)
    (tmp_path / "src" / "broken").mkdir()
    (tmp_path / "src" / "broken" / "project_manifest.json").write_text('{"apiVersion": ')
    result = backfill(store, SqliteShadow(tmp_path / "s.db"))
    reasons = {s.path.split("/src/")[1]: s.reasons for s in result.skipped}
    assert set(reasons) == {
        "proj-000001/project_manifest.json",
        "proj-000002/.vibe/project_memory.json",
        "broken/project_manifest.json",
    }
    assert any("/status/projectPhase" in r for r in reasons["proj-000001/project_manifest.json"])
    assert any(
        "/narrative/0/session" in r for r in reasons["proj-000002/.vibe/project_memory.json"]
    )
    assert "line 1, column" in reasons["broken/project_manifest.json"][0]
    got = contents(tmp_path / "s.db")
    assert sorted(r[1] for r in got["missions"]) == ["proj-000000", "proj-000002", "proj-000003"]
    mission_2 = next(r[0] for r in got["missions"] if r[1] == "proj-000002")
    assert all(r[1] != mission_2 for r in got["trajectory"])  # its memory was skipped
    # proj-000002's manifest went in without its memory: partly imported, not "imported"
    assert (result.units, result.imported, result.partial) == (5, 2, 1)


def test_duplicate_project_id_in_two_workspaces_is_skipped(tmp_path):
    projects = make_projects(1, seed=2)
    store = write_json_only(tmp_path / "src", projects)
    other = store.path_for("copy", "manifest")
    store.write(other, projects[0][0])
    result = backfill(store, SqliteShadow(tmp_path / "s.db"))
    assert result.imported == 1
    assert "duplicate key 'proj-000000'" in result.skipped[0].reasons[0]


def test_cli_backfill_exit_codes(tmp_path):
    projects = make_projects(3, seed=5, sessions=2)
    write_json_only(tmp_path / "src", projects)
    (tmp_path / "db").mkdir()  # a --shadow in a folder that is missing is a usage error
    cmd = [
        "backfill",
        "--source",
        str(tmp_path / "src"),
        "--shadow",
        str(tmp_path / "db" / "s.db"),
    ]
    ok = run_cli(*cmd)
    assert ok.returncode == 0, ok.stderr
    assert "3 units into " in ok.stdout and ": 3 imported, 0 unchanged;" in ok.stdout
    assert ok.stderr == ""  # no progress bar when not on a terminal
    bad = tmp_path / "src" / "proj-000001" / "project_manifest.json"
    doc = orjson.loads(bad.read_bytes())
    doc["kind"] = "Mission"
    bad.write_bytes(orjson.dumps(doc))
    skipped = run_cli(*cmd)
    assert skipped.returncode == 1
    assert f"skipped {bad}: /kind: 'Project' was expected" in skipped.stdout
    missing = run_cli(cmd[0], "--source", str(tmp_path / "nope"), *cmd[3:])
    assert missing.returncode == 2
    assert (
        missing.stderr.strip()
        == f"shadow-audit: source folder {tmp_path / 'nope'}: not a readable folder"
    )
    (tmp_path / "empty").mkdir()  # a typo for the source: no empty database is made
    empty = run_cli(cmd[0], "--source", str(tmp_path / "empty"), "--shadow", str(tmp_path / "e.db"))
    assert empty.returncode == 2
    assert empty.stderr == (
        f"shadow-audit: source folder {tmp_path / 'empty'}: no */project_manifest.json in it; "
        "nothing imported\n"
    )
    assert not (tmp_path / "e.db").exists()


def test_cli_skip_messages_name_the_file_once_and_count_each_outcome(tmp_path):
    projects = make_projects(3, seed=5, sessions=2)
    store = write_json_only(tmp_path / "src", projects)
    cmd = ["backfill", "--source", str(tmp_path / "src"), "--shadow", str(tmp_path / "s.db")]
    first = run_cli(*cmd)
    assert first.returncode == 0, first.stderr
    assert first.stdout == (
        f"backfill: 3 units into {tmp_path / 's.db'}: 3 imported, 0 unchanged; "
        "0 documents skipped\n"
    )
    broken = store.path_for("proj-000001", "memory")
    broken.write_text('{"project_id": ')
    again = run_cli(*cmd)
    assert again.returncode == 1
    lines = again.stdout.splitlines()
    assert lines[0].startswith(f"skipped {broken}: not valid JSON at line 1")
    assert lines[0].count(str(broken)) == 1
    assert lines[-1] == (
        f"backfill: 3 units into {tmp_path / 's.db'}: 0 imported, 2 unchanged, "
        "1 imported without an invalid companion document; 1 document skipped"
    )


# --- the batched, parallel backfill equals importing each unit with the writer ----------

FILL = "<import time>"  # fill columns hold the moment of the import: equal when both are set


def dump(db, *, raw: bool = False) -> dict[str, list[tuple]]:
    """Every table of the database (sqlite_sequence and the identity table included), with
    the fill columns (import time) made comparable unless ``raw``."""
    fills = {(e.table, f.column) for e in REFERENCE.entities for f in e.fields if f.fill}
    fills = set() if raw else fills
    conn = sqlite3.connect(db)
    try:
        names = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")]
        out = {}
        for name in sorted(names):
            cols = [r[1] for r in conn.execute(f'PRAGMA table_info("{name}")')]
            rows = conn.execute(f'SELECT * FROM "{name}" ORDER BY rowid').fetchall()
            out[name] = [
                tuple(
                    FILL if (name, c) in fills and v is not None else v
                    for c, v in zip(cols, row, strict=True)
                )
                for row in rows
            ]
        # the change record says which units were written; its numbers follow write order
        out["shadow_audit_changes"] = sorted(u for u, _ in out.get("shadow_audit_changes", []))
        return out
    finally:
        conn.close()


def import_unit_by_unit(source, db) -> set[str]:
    """The reference: each unit read, checked by jsonschema, and written with
    ``SqliteShadow.write`` in a transaction of its own; returns the paths skipped."""
    store, shadow = JsonStore(source), SqliteShadow(db)
    skipped: set[str] = set()
    seen: set[str] = set()
    for unit in store.units():
        try:
            manifest = store.read(unit.primary)
        except ShadowAuditError:
            skipped.add(str(unit.primary))
            continue
        if validate_document(manifest, "manifest"):
            skipped.add(str(unit.primary))
            continue
        docs = {"manifest": manifest}
        places = locate(unit.folder, REFERENCE.companions[0])
        skipped.update(places[1:])
        if places:
            try:
                memory = store.read(Path(places[0]))
                if validate_document(memory, "memory"):
                    skipped.add(places[0])
                else:
                    docs["memory"] = memory
            except ShadowAuditError:
                skipped.add(places[0])
        key = manifest["metadata"]["projectId"]
        if key in seen:
            skipped.add(str(unit.primary))
            continue
        seen.add(key)
        with shadow.transaction() as conn:
            shadow.write(conn, key, docs)
    return skipped


def reference_store_with_bad_documents(source) -> None:
    """Grown the reference way (memories past 50 sessions included), then broken in each
    way a backfill must survive."""
    sessions = [0, 3, 60, 12, 5, 55, 1, 8, 2, 7, 0, 4, 9, 51, 6, 3, 2, 10, 1, 5]
    write_reference_store(source, sessions, seed=23)
    manifest = source / "workspace_001" / "project_manifest.json"
    doc = orjson.loads(manifest.read_bytes())
    doc["status"]["projectPhase"] = "DONE"
    manifest.write_bytes(orjson.dumps(doc))
    memory = source / "workspace_003" / ".vibe" / "project_memory.json"
    doc = orjson.loads(memory.read_bytes())
    doc["narrative"][0]["session"] = "one"
    memory.write_bytes(orjson.dumps(doc))
    (source / "workspace_004" / ".vibe" / "project_memory.json").write_text('{"narrative": ')
    (source / "workspace_007" / "project_manifest.json").write_text('{"apiVersion": ')
    second = source / "workspace_009" / ".vibe" / "project_memory.json"
    (source / "workspace_009" / "project_memory.json").write_bytes(second.read_bytes())
    twin = source / "workspace_999"
    twin.mkdir()
    (twin / "project_manifest.json").write_bytes(
        (source / "workspace_002" / "project_manifest.json").read_bytes()
    )


def edit_store(source) -> None:
    """Changes between two runs: an edited summary, a concept gone, a memory gone, a
    manifest phase moved, a broken manifest mended."""
    path = source / "workspace_002" / ".vibe" / "project_memory.json"
    doc = orjson.loads(path.read_bytes())
    doc["narrative"][-1]["summary"] += " (edited)"
    doc["domain"]["concepts"] = doc["domain"]["concepts"][1:]
    path.write_bytes(orjson.dumps(doc))
    (source / "workspace_005" / ".vibe" / "project_memory.json").unlink()
    path = source / "workspace_006" / "project_manifest.json"
    doc = orjson.loads(path.read_bytes())
    doc["status"]["projectPhase"] = "TESTING"
    path.write_bytes(orjson.dumps(doc))
    path = source / "workspace_001" / "project_manifest.json"
    doc = orjson.loads(path.read_bytes())
    doc["status"]["projectPhase"] = "CODING"
    path.write_bytes(orjson.dumps(doc))


@pytest.mark.parametrize(("workers", "batch"), [(2, 3), (1, 500)])
def test_batched_backfill_writes_exactly_what_the_writer_writes_unit_by_unit(
    tmp_path, workers, batch
):
    source = tmp_path / "src"
    reference_store_with_bad_documents(source)
    SqliteShadow(tmp_path / "base.db")
    shutil.copy(tmp_path / "base.db", tmp_path / "ref.db")
    shutil.copy(tmp_path / "base.db", tmp_path / "fast.db")

    expected_skips = import_unit_by_unit(source, tmp_path / "ref.db")
    result = backfill(source, tmp_path / "fast.db", workers=workers, batch=batch)
    assert {s.path for s in result.skipped} == expected_skips
    assert len(expected_skips) == 6  # 2 manifests, 2 memories, a second memory, a twin
    assert (result.units, result.imported, result.partial) == (21, 15, 3)
    assert dump(tmp_path / "fast.db") == dump(tmp_path / "ref.db")

    edit_store(source)  # the second run meets rows to update, delete and insert
    import_unit_by_unit(source, tmp_path / "ref.db")
    again = backfill(source, tmp_path / "fast.db", workers=workers, batch=batch)
    assert (again.imported, again.unchanged, again.partial) == (3, 13, 3)
    assert dump(tmp_path / "fast.db") == dump(tmp_path / "ref.db")

    before = dump(tmp_path / "fast.db", raw=True)
    third = backfill(source, tmp_path / "fast.db", workers=workers, batch=batch)
    assert (third.imported, third.unchanged, third.partial) == (0, 16, 3)
    assert dump(tmp_path / "fast.db", raw=True) == before  # import times and ids included


def test_new_root_rows_take_the_ids_autoincrement_gives_after_rows_were_deleted(tmp_path):
    """Root ids are assigned up front (one INSERT for the batch): one past the largest id
    ever used, as sqlite_sequence keeps it, never one past the largest still there."""
    source = tmp_path / "src"
    reference_store_with_bad_documents(source)
    SqliteShadow(tmp_path / "base.db")
    for name in ("ref.db", "fast.db"):
        shutil.copy(tmp_path / "base.db", tmp_path / name)
    import_unit_by_unit(source, tmp_path / "ref.db")
    backfill(source, tmp_path / "fast.db", workers=1, batch=4)
    for name in ("ref.db", "fast.db"):  # the newest units gone: their ids are not reused
        with sqlite3.connect(tmp_path / name) as conn:
            conn.execute("PRAGMA foreign_keys = ON")
            conn.execute("DELETE FROM missions WHERE id > (SELECT max(id) - 3 FROM missions)")
        conn.close()
    import_unit_by_unit(source, tmp_path / "ref.db")
    again = backfill(source, tmp_path / "fast.db", workers=1, batch=4)
    assert again.imported == 3
    assert dump(tmp_path / "fast.db") == dump(tmp_path / "ref.db")


KILLED = """
import sys
from shadow_audit.backfill import backfill
backfill(sys.argv[1], sys.argv[2], workers=2, batch=10)
"""


@pytest.mark.slow  # a backfill process SIGKILLed mid-run: a crash test
def test_a_backfill_killed_mid_run_leaves_whole_batches_and_a_rerun_completes_it(tmp_path):
    projects = make_projects(1200, seed=3, sessions=3, concepts=3, concerns=2)
    source = tmp_path / "src"
    for manifest, memory in projects:  # plain files: the store as it was before dual write
        folder = source / manifest["metadata"]["projectId"] / ".vibe"
        folder.mkdir(parents=True)
        (folder.parent / "project_manifest.json").write_bytes(orjson.dumps(manifest))
        (folder / "project_memory.json").write_bytes(orjson.dumps(memory))
    SqliteShadow(tmp_path / "killed.db")
    shutil.copy(tmp_path / "killed.db", tmp_path / "clean.db")  # the same identity row
    backfill(source, tmp_path / "clean.db")

    child = subprocess.Popen(
        [sys.executable, "-c", KILLED, str(source), str(tmp_path / "killed.db")]
    )
    wait_for(
        lambda: missions(tmp_path / "killed.db") >= 10 or child.poll() is not None,
        "the backfill to write its first units",
    )
    child.send_signal(signal.SIGKILL)
    child.wait()

    conn = sqlite3.connect(tmp_path / "killed.db")
    try:
        assert conn.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
        written = conn.execute("SELECT count(*) FROM missions").fetchone()[0]
        assert 10 <= written < 1200 and written % 10 == 0  # whole batches, not all of them
        assert conn.execute("SELECT count(*) FROM trajectory").fetchone()[0] == written
        # each batch set the change-record triggers aside: the kill left them in place
        kept = conn.execute("SELECT name, sql FROM sqlite_master WHERE type = 'trigger'")
        assert dict(kept.fetchall()) == trigger_sql(REFERENCE)
    finally:
        conn.close()
    resumed = backfill(source, tmp_path / "killed.db")
    assert (resumed.imported, resumed.unchanged) == (1200 - written, written)
    assert dump(tmp_path / "killed.db") == dump(tmp_path / "clean.db")


def missions(db) -> int:
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        return conn.execute("SELECT count(*) FROM missions").fetchone()[0]
    except sqlite3.OperationalError:  # not created yet, or busy
        return 0
    finally:
        conn.close()


@pytest.mark.parametrize("workers", [1, 2])
def test_the_workers_read_through_the_safe_reader(tmp_path, workers):
    """A FIFO memory, a manifest linked out of the source and a workspace folder linked
    out are each skipped with one reason (no hang, nothing outside read); the rest go in."""
    projects = make_projects(4, seed=9, sessions=2)
    store = write_json_only(tmp_path / "src", projects)
    fifo = store.path_for("proj-000000", "memory")
    fifo.unlink()
    os.mkfifo(fifo)
    outside = tmp_path / "outside"
    outside.mkdir()
    manifest = store.path_for("proj-000001", "manifest")
    (outside / "m.json").write_bytes(manifest.read_bytes())
    manifest.unlink()
    manifest.symlink_to(outside / "m.json")
    folder = tmp_path / "src" / "proj-000002"
    folder.rename(outside / "proj-000002")
    folder.symlink_to(outside / "proj-000002")
    result = backfill(store, tmp_path / "s.db", workers=workers, batch=1)
    reasons = {s.path: s.reasons for s in result.skipped}
    assert set(reasons) == {str(fifo), str(manifest), str(folder / "project_manifest.json")}
    assert reasons[str(fifo)] == ("is a FIFO, not a regular file; not read",)
    assert "outside the source folder; not followed" in reasons[str(manifest)][0]
    assert "outside the source folder" in reasons[str(folder / "project_manifest.json")][0]
    assert (result.imported, result.partial) == (1, 1)


@pytest.mark.parametrize("sent", [False, True], ids=["read here", "sent by a worker"])
def test_a_unit_saved_after_it_was_read_is_read_again_inside_the_transaction(
    tmp_path, monkeypatch, sent
):
    """The older version never wins: the writer saves JSON before SQLite, so a save made
    between the worker's read and the batch's transaction is seen there and written (the
    rows a worker sent flat for it are not used)."""
    module = sys.modules["shadow_audit.backfill"]
    reading = sys.modules["shadow_audit.backfill_read"]
    from shadow_audit.stores.bulk import table_layouts

    projects = make_projects(2, seed=4, sessions=2)
    store = write_json_only(tmp_path / "src", projects)
    shadow = SqliteShadow(tmp_path / "s.db")
    with shadow.connection() as conn:
        reader = reading.UnitReader(store, table_layouts(shadow, conn))
        units = store.units()
        if sent:
            monkeypatch.setattr(reading, "_worker_reader", reader)
            reads, flat = reading._unpack(reading._read_chunk(units), reader.layouts)
            stale = reading.Batch(list(zip(units, reads, strict=True)), flat)
            assert flat is not None
        else:
            stale = reading.Batch([(unit, reader.read(unit)) for unit in units])
        manifest, memory = projects[1]
        manifest["status"]["message"] = "saved while the backfill ran"
        memory["narrative"][0]["summary"] = "a session saved while the backfill ran"
        store.write(store.path_for("proj-000001", "manifest"), manifest)
        store.write(store.path_for("proj-000001", "memory"), memory)
        tally = module._Tally()
        module._write_batch(shadow, conn, reader, stale, tally)
    assert (tally.imported, tally.skipped) == (2, [])
    got = contents(tmp_path / "s.db")
    assert any("saved while the backfill ran" in map(str, row) for row in got["missions"])
    summaries = [row[4] for row in got["session_narrative"]]
    assert "a session saved while the backfill ran" in summaries
    assert len(summaries) == sum(len(memory["narrative"]) for _, memory in projects)


def test_rows_sent_flat_come_back_as_the_unit_read_them(tmp_path):
    """A worker packs each child table's rows flat; a unit's rows built back from them are
    its rows as read, None for a document not read, and for a list keyed
    by a member that repeats: the last values at the first place, as ``import_units``
    takes them."""
    from dataclasses import replace

    from shadow_audit.mapping import Entity, Field
    from shadow_audit.stores.bulk import FlatRows, TableLayout

    reading = sys.modules["shadow_audit.backfill_read"]
    by_session = Entity(
        table="sessions",
        document="memory",
        key_column="session_num",
        key_path="session",
        rows_from="narrative",
        parent="missions",
        link_column="mission_id",
        fields=(Field("summary", "summary"), Field("tags", "tags"), Field("at", fill="now")),
    )
    narrative = REFERENCE.entity("session_narrative")
    trajectory = REFERENCE.entity("trajectory")
    width = len([f for f in trajectory.fields if not f.fill])
    cases = [
        (by_session, [[(1, ("a", ["x"])), (2, ("b", None)), (1, ("c", {"k": 1}))], None, []]),
        (narrative, [[(0, (1, "s", "d", "p")), (1, (2, "t", "e", "q"))], [], None]),
        (trajectory, [None, [(None, ("CODING", ["a"], *[None] * (width - 2)))]]),
    ]
    for entity, units in cases:
        fields = tuple(f for f in entity.fields if not f.fill)
        table = TableLayout(entity, fields, tuple(f for f in entity.fields if f.fill))
        packer = reading._Packer(table)
        for i, rows in enumerate(units):  # as the stored projector gives them
            packer.add(i, None if rows is None else [(k, stored(v)) for k, v in rows])
        counts, flat = packer.packed()
        got = FlatRows(table.flat_width, bool(entity.key_column), len(table.fills), counts, flat)
        for i, rows in enumerate(units):
            want = None if rows is None else [(k, stored(v)) for k, v in dict(rows).items()]
            assert got.rows(i) == want, (entity.table, i)
    assert replace(by_session, set_like=True) != by_session  # the case above is not set-like


def test_an_empty_source_is_nothing_to_import_unless_units_are_required(tmp_path):
    """The library backfills an empty store (a shadow to start from, 0 units); asked to
    require units (the CLI does), it refuses and makes no database."""
    (tmp_path / "empty").mkdir()
    result = backfill(tmp_path / "empty", tmp_path / "a.db")
    assert (result.units, result.imported) == (0, 0) and (tmp_path / "a.db").is_file()
    with pytest.raises(ShadowAuditError, match=r"no \*/project_manifest\.json in it"):
        backfill(tmp_path / "empty", tmp_path / "b.db", require_units=True)
    assert not (tmp_path / "b.db").exists()
