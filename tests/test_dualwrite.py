"""The dual writer: JSON first and always; shadow failures land in the ledger, never in the app."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import orjson
import pytest

from shadow_audit.dualwrite import DualWriter, document_hash
from shadow_audit.errors import InvalidDocumentError, UsageError
from shadow_audit.stores.json_store import JsonStore
from shadow_audit.stores.sqlite_shadow import SqliteShadow
from tests.conftest import make_store, read_only_file


def read_json(path: Path) -> object:
    return orjson.loads(path.read_bytes())


def assert_shadow_failure_recorded(store, manifest, result, error_fragment: str) -> None:
    pid = manifest["metadata"]["projectId"]
    assert not result.shadow_ok
    assert read_json(store.manifest_path(pid)) == manifest
    entries = store.ledger.read().entries
    assert len(entries) == 1
    entry = entries[0]
    assert entry.key == pid
    assert error_fragment in entry.message
    assert len(entry.document_hash) == 64


def test_check_violation_under_reference_schema_goes_to_ledger(tmp_path, caplog):
    store = make_store(tmp_path, 2, reference_v2=True)
    manifest, memory = store.projects[0]
    manifest["status"]["projectPhase"] = "AWAITING_CODE_GENERATION"
    result = store.writer.save_project(manifest, memory)
    assert_shadow_failure_recorded(store, manifest, result, "CHECK constraint failed")
    assert result.failure is not None and result.failure.error_class == "IntegrityError"
    assert "shadow write for proj-000000 failed" in caplog.text
    # the failed transaction left the old row as it was
    assert store.sql("SELECT phase FROM missions WHERE mission_uuid='proj-000000'") != [
        ("AWAITING_CODE_GENERATION",)
    ]


def test_database_locked_by_another_connection_goes_to_ledger(tmp_path):
    store = make_store(tmp_path, 1)
    writer = DualWriter(JsonStore(store.source), SqliteShadow(store.db, busy_timeout=0.1))
    blocker = sqlite3.connect(store.db, isolation_level=None)
    blocker.execute("BEGIN EXCLUSIVE")
    try:
        manifest, memory = store.projects[0]
        manifest["status"]["message"] = "edited while locked"
        result = writer.save_project(manifest, memory)
    finally:
        blocker.execute("ROLLBACK")
        blocker.close()
    assert_shadow_failure_recorded(store, manifest, result, "database is locked")


def test_read_only_database_file_goes_to_ledger(tmp_path):
    store = make_store(tmp_path, 1)
    manifest, memory = store.projects[0]
    manifest["status"]["message"] = "edited while read-only"
    with read_only_file(store.db):
        result = store.writer.save_project(manifest, memory)
    assert_shadow_failure_recorded(store, manifest, result, "readonly database")
    assert store.ledger.read().entries[0].error_class == "OperationalError"


def test_invalid_document_is_written_nowhere_and_error_names_field(store):
    manifest, memory = store.projects[1]
    pid = manifest["metadata"]["projectId"]
    before_json = store.manifest_path(pid).read_bytes()
    before_db = store.sql("SELECT * FROM missions WHERE mission_uuid = ?", pid)
    manifest["status"]["projectPhase"] = "DONE"
    with pytest.raises(
        InvalidDocumentError, match=r"manifest proj-000001: /status/projectPhase: 'DONE'"
    ):
        store.writer.save_project(manifest, memory)
    assert store.manifest_path(pid).read_bytes() == before_json
    assert store.sql("SELECT * FROM missions WHERE mission_uuid = ?", pid) == before_db
    assert store.ledger.read().entries == ()


def test_invalid_new_document_creates_no_file(tmp_path, project):
    store = make_store(tmp_path, 0)
    manifest, _ = project(4)
    del manifest["metadata"]["owner"]
    with pytest.raises(InvalidDocumentError, match="/metadata: 'owner' is a required property"):
        store.writer.save_manifest(manifest)
    assert not (store.source / manifest["metadata"]["projectId"]).exists()
    assert store.sql("SELECT count(*) FROM missions") == [(0,)]


def test_integer_beyond_64_bits_is_rejected_before_any_write(tmp_path, project):
    store = make_store(tmp_path, 0)
    manifest, _ = project(0)
    manifest["spec"]["vibe"]["huge"] = 2**70
    with pytest.raises(InvalidDocumentError, match="cannot be stored exactly"):
        store.writer.save_manifest(manifest)
    assert not (store.source / "proj-000000").exists()


def test_path_traversal_project_id_is_rejected(tmp_path, project):
    store = make_store(tmp_path, 0)
    manifest, _ = project(0)
    manifest["metadata"]["projectId"] = "../../etc"
    with pytest.raises(InvalidDocumentError, match="/metadata/projectId"):
        store.writer.save_manifest(manifest)
    assert not (tmp_path / "etc").exists()


def test_unsafe_workspace_argument_is_rejected(tmp_path, project):
    store = make_store(tmp_path, 0)
    manifest, _ = project(0)
    with pytest.raises(UsageError, match="not a safe name"):
        store.writer.save_manifest(manifest, workspace="../outside")


def test_memory_with_wrong_project_id_is_rejected(store):
    _, memory = store.projects[0]
    memory["project_id"] = "proj-000001"
    with pytest.raises(InvalidDocumentError):
        store.writer.save_memory(memory, workspace="proj-000000", mission_id=1)


def test_save_memory_without_mission_id_writes_json_only(store):
    _, memory = store.projects[2]
    memory["narrative"][0]["summary"] = "only in JSON"
    result = store.writer.save_memory(memory)
    assert not result.shadow_ok and result.failure is None
    assert read_json(store.memory_path("proj-000002")) == memory
    assert ("only in JSON",) not in store.sql("SELECT summary FROM session_narrative")


def test_save_memory_with_mission_id_updates_the_shadow(store):
    _, memory = store.projects[2]
    memory["narrative"][0]["summary"] = "in both"
    mid = store.sql("SELECT id FROM missions WHERE mission_uuid='proj-000002'")[0][0]
    result = store.writer.save_memory(memory, mission_id=mid)
    assert result.shadow_ok and result.mission_id == mid
    assert store.sql(
        "SELECT summary FROM session_narrative WHERE mission_id=? AND session_num=1", mid
    ) == [("in both",)]


def test_successful_save_returns_mission_id_and_hash_is_stable(store, project):
    manifest, memory = project(7)
    result = store.writer.save_project(manifest, memory)
    assert result.shadow_ok
    assert store.sql("SELECT id FROM missions WHERE mission_uuid=?", "proj-000007") == [
        (result.mission_id,)
    ]
    reordered = dict(reversed(list(manifest.items())))
    assert document_hash(reordered) == document_hash(manifest)
