"""Faults in the shadow path, made real. For each: the application sees no exception and its
JSON is written; the ledger names exactly the affected keys; the audit lists exactly them."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
import textwrap

from shadow_audit.dualwrite import DualWriter
from shadow_audit.engine.run import audit
from shadow_audit.mapping import DocumentMap, DocumentSpec, Entity, Field
from shadow_audit.stores.json_store import JsonStore
from shadow_audit.stores.sqlite_shadow import SqliteShadow
from tests.conftest import audit_cli, make_store, read_only_file

AFFECTED = ["proj-000001", "proj-000004"]


def save_edits(store, writer=None):
    """The application keeps working: edit the message of the affected projects and save."""
    writer = writer or store.writer
    results = []
    for manifest, memory in store.projects:
        if manifest["metadata"]["projectId"] in AFFECTED:
            manifest["status"]["message"] = "edited during the fault"
            results.append(writer.save_project(manifest, memory))
    return results


def assert_exactly_affected(store, results, error: str = ""):
    assert all(not r.shadow_ok for r in results)
    for pid in AFFECTED:
        assert '"edited during the fault"' in store.manifest_path(pid).read_text()
    entries = store.ledger.read().entries
    assert sorted(e.key for e in entries) == AFFECTED
    assert all(error in e.message for e in entries)
    found = audit(store.source, store.db).findings
    assert sorted({f.key for f in found}) == AFFECTED
    assert {(f.kind, f.field) for f in found} == {("value_mismatch", "status_message")}


def test_database_locked_past_the_busy_timeout(tmp_path):
    store = make_store(tmp_path, 6)
    writer = DualWriter(JsonStore(store.source), SqliteShadow(store.db, busy_timeout=0.05))
    blocker = sqlite3.connect(store.db, isolation_level=None)
    blocker.execute("BEGIN EXCLUSIVE")
    try:
        results = save_edits(store, writer)
    finally:
        blocker.execute("ROLLBACK")
        blocker.close()
    assert_exactly_affected(store, results, "database is locked")


def test_read_only_database_file(tmp_path):
    store = make_store(tmp_path, 6)
    with read_only_file(store.db):
        results = save_edits(store)
    assert_exactly_affected(store, results)


def test_full_disk_in_a_process_with_a_file_size_limit(tmp_path):
    store = make_store(tmp_path, 6)
    app = textwrap.dedent(
        f"""
        import resource, signal, json
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # get EFBIG, like ENOSPC, not a kill
        resource.setrlimit(resource.RLIMIT_FSIZE, (12_000, 12_000))
        from shadow_audit.dualwrite import DualWriter
        from shadow_audit.stores.json_store import JsonStore
        from shadow_audit.stores.sqlite_shadow import SqliteShadow
        writer = DualWriter(JsonStore({str(store.source)!r}), SqliteShadow({str(store.db)!r}, create=False))
        for manifest, memory in json.loads({__import__("json").dumps(store.projects)!r}):
            if manifest["metadata"]["projectId"] in {AFFECTED!r}:
                manifest["status"]["message"] = "edited during the fault"
                result = writer.save_project(manifest, memory)
                assert not result.shadow_ok, "the shadow write should have failed"
        print("app ok")
        """
    )
    run = subprocess.run([sys.executable, "-c", app], capture_output=True, text=True, timeout=120)
    assert run.returncode == 0 and run.stdout.strip() == "app ok", run.stderr
    assert_exactly_affected(store, [type("R", (), {"shadow_ok": False})()])


def test_check_violation_under_the_reference_schema(tmp_path):
    store = make_store(tmp_path, 6, reference_v2=True)
    results = []
    for manifest, memory in store.projects:
        if manifest["metadata"]["projectId"] in AFFECTED:
            manifest["status"]["projectPhase"] = "AWAITING_CODE_GENERATION"
            results.append(store.writer.save_project(manifest, memory))
    assert all(not r.shadow_ok for r in results)
    assert sorted(e.key for e in store.ledger.read().entries) == AFFECTED
    found = audit(store.source, store.db).findings
    assert sorted({f.key for f in found}) == AFFECTED
    assert {(f.kind, f.field) for f in found} == {("value_mismatch", "phase")}


def test_database_deleted_while_the_writer_runs(tmp_path):
    store = make_store(tmp_path, 6)
    for path in tmp_path.glob("shadow.db*"):
        if not path.name.endswith(".jsonl"):
            path.unlink()
    results = save_edits(store)
    assert all(not r.shadow_ok for r in results)
    assert sorted(e.key for e in store.ledger.read().entries) == AFFECTED
    assert not store.db.exists()  # the writer does not quietly create an empty shadow
    run = audit_cli(
        store.source,
        store.db,
        tmp_path / "o",
    )
    assert (
        run.returncode == 2 and run.stderr == f"shadow-audit: database {store.db}: no such file\n"
    )


def test_malformed_value_that_sqlite_rejects(tmp_path):
    """A STRICT table of the application's own refuses a string in an INTEGER column."""
    mapping = DocumentMap(
        name="orders",
        primary=DocumentSpec("order", "*/order.json", key_path="id"),
        entities=(
            Entity(table="orders", document="order", key_column="order_id", key_path="id",
                   fields=(Field("qty", path="qty", type="integer"),)),
        ),
    )  # fmt: skip
    db = tmp_path / "o.db"
    with sqlite3.connect(db) as conn:
        conn.execute(
            "CREATE TABLE orders (id INTEGER PRIMARY KEY, order_id TEXT UNIQUE, qty INTEGER) STRICT"
        )
    conn.close()
    writer = DualWriter(
        JsonStore(tmp_path / "src", mapping), SqliteShadow(db, mapping, create=False)
    )
    for i in range(3):
        assert writer.save({"order": {"id": f"o{i}", "qty": i}}).shadow_ok
    bad = writer.save({"order": {"id": "o1", "qty": "three"}})
    assert not bad.shadow_ok and "cannot store TEXT value in INTEGER column" in bad.failure.message
    from shadow_audit.config import Config

    (finding,) = audit(tmp_path / "src", db, config=Config(mapping=mapping)).findings
    assert (finding.key, finding.field, finding.source_value, finding.shadow_value) == (
        "o1",
        "qty",
        "three",
        1,
    )
