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


def enforcing(store) -> DualWriter:
    """The store's writer in ``enforce`` mode: invalid documents are written nowhere."""
    return DualWriter(
        store.writer.store, store.writer.shadow, ledger=store.ledger, validation="enforce"
    )


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
        enforcing(store).save_project(manifest, memory)
    assert store.manifest_path(pid).read_bytes() == before_json
    assert store.sql("SELECT * FROM missions WHERE mission_uuid = ?", pid) == before_db
    assert store.ledger.read().entries == ()


def test_invalid_new_document_creates_no_file(tmp_path, project):
    store = make_store(tmp_path, 0)
    manifest, _ = project(4)
    del manifest["metadata"]["owner"]
    with pytest.raises(InvalidDocumentError, match="/metadata: 'owner' is a required property"):
        enforcing(store).save_manifest(manifest)
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


def test_memory_project_id_is_data_not_a_link(store):
    """The reference puts its folder's name there: the memory belongs to its folder anyway,
    and the value is stored in its own column."""
    _, memory = store.projects[0]
    memory["project_id"] = "agency_toolkit"
    mid = store.sql("SELECT id FROM missions WHERE mission_uuid='proj-000000'")[0][0]
    result = store.writer.save_memory(memory, workspace="proj-000000", mission_id=mid)
    assert result.shadow_ok and result.failure is None
    assert read_json(store.memory_path("proj-000000")) == memory
    assert store.sql("SELECT memory_project_id FROM trajectory WHERE mission_id=?", mid) == [
        ("agency_toolkit",)
    ]


def test_save_memory_without_mission_id_writes_json_only(store):
    _, memory = store.projects[2]
    memory["narrative"][0]["summary"] = "only in JSON"
    result = store.writer.save_memory(memory, workspace="proj-000002")
    assert not result.shadow_ok and result.failure is None
    assert read_json(store.memory_path("proj-000002")) == memory
    assert ("only in JSON",) not in store.sql("SELECT summary FROM session_narrative")


def test_save_memory_alone_needs_a_place(store):
    _, memory = store.projects[2]
    with pytest.raises(UsageError, match="workspace="):
        store.writer.save_memory(memory)
    with pytest.raises(UsageError, match="no mission 999"):
        store.writer.save_memory(memory, mission_id=999)


def test_save_memory_with_mission_id_updates_the_shadow(store):
    _, memory = store.projects[2]
    memory["narrative"][0]["summary"] = "in both"
    mid = store.sql("SELECT id FROM missions WHERE mission_uuid='proj-000002'")[0][0]
    result = store.writer.save_memory(memory, mission_id=mid)
    assert result.shadow_ok and result.mission_id == mid
    assert read_json(store.memory_path("proj-000002")) == memory
    assert store.sql(
        "SELECT summary FROM session_narrative WHERE mission_id=? AND position=0", mid
    ) == [("in both",)]


def test_save_memory_attaches_rows_to_the_mission_it_names(store):
    """As the reference's save(memory, mission_id=N): the rows go to mission N, not to
    whichever mission the folder's manifest is (the audit then reports the drift)."""
    _, memory = store.projects[2]
    memory["narrative"][0]["summary"] = "attached to mission 4"
    other = store.sql("SELECT id FROM missions WHERE mission_uuid='proj-000003'")[0][0]
    result = store.writer.save_memory(memory, workspace="proj-000002", mission_id=other)
    assert result.shadow_ok and result.mission_id == other
    assert store.sql(
        "SELECT summary FROM session_narrative WHERE mission_id=? AND position=0", other
    ) == [("attached to mission 4",)]


def test_save_memory_for_an_unknown_mission_goes_to_the_ledger(store):
    _, memory = store.projects[2]
    result = store.writer.save_memory(memory, workspace="proj-000002", mission_id=999)
    assert not result.shadow_ok
    assert read_json(store.memory_path("proj-000002")) == memory
    (entry,) = store.ledger.read().entries
    assert entry.error_class == "IntegrityError"


def test_observe_writes_an_invalid_document_and_records_its_reasons_once(store):
    manifest, memory = store.projects[1]
    pid = manifest["metadata"]["projectId"]
    manifest["research_metadata"] = {"sources": ["interview"]}  # the reference wrote this
    memory["intent_history"].append({"session": 1, "intent": "x", "confidence": 7})
    memory["unknown_key"] = {"kept": True}
    result = store.writer.save_project(manifest, memory)  # observe is the default
    assert read_json(store.manifest_path(pid)) == manifest
    assert read_json(store.memory_path(pid)) == memory
    (entry,) = store.ledger.read().entries
    assert entry.error_class == "InvalidDocumentError"
    assert "manifest /: Additional properties are not allowed" in entry.message
    assert "memory /intent_history/" in entry.message and "confidence" in entry.message
    assert "'unknown_key' was unexpected" in entry.message
    assert result.failure == entry
    # the shadow got all of it: the unknown keys travel in the extra columns
    assert result.shadow_ok
    assert store.sql("SELECT extra FROM missions WHERE mission_uuid=?", pid) == [
        ('{"research_metadata":{"sources":["interview"]}}',)
    ]


def test_observe_records_a_schema_violation_and_a_refused_shadow_write_apart(store):
    manifest, memory = store.projects[1]
    manifest["status"]["projectPhase"] = "DONE"  # the schema and the CHECK both refuse it
    result = store.writer.save_project(manifest, memory)
    assert read_json(store.manifest_path("proj-000001")) == manifest
    kinds = [e.error_class for e in store.ledger.read().entries]
    assert kinds == ["InvalidDocumentError", "IntegrityError"]
    assert not result.shadow_ok


def test_observe_invalid_memory_still_reaches_the_shadow(store):
    _, memory = store.projects[1]
    memory["surprise"] = [1, 2, 3]
    mid = store.sql("SELECT id FROM missions WHERE mission_uuid='proj-000001'")[0][0]
    result = store.writer.save_memory(memory, mission_id=mid)
    assert result.shadow_ok
    (entry,) = store.ledger.read().entries
    assert entry.error_class == "InvalidDocumentError" and "surprise" in entry.message
    ((extra,),) = store.sql("SELECT extra FROM trajectory WHERE mission_id=?", mid)
    assert orjson.loads(extra)["surprise"] == [1, 2, 3]


def test_enforce_writes_an_invalid_memory_nowhere(store):
    _, memory = store.projects[1]
    before = store.memory_path("proj-000001").read_bytes()
    memory["intent_history"].append({"session": 1, "intent": "x", "confidence": ""})
    with pytest.raises(InvalidDocumentError, match="memory proj-000001: /intent_history/"):
        enforcing(store).save_memory(memory, workspace="proj-000001", mission_id=2)
    assert store.memory_path("proj-000001").read_bytes() == before
    assert store.ledger.read().entries == ()


def test_unknown_validation_mode_is_a_usage_error(store):
    with pytest.raises(UsageError, match="validation 'strict'"):
        DualWriter(store.writer.store, store.writer.shadow, validation="strict")  # type: ignore[arg-type]


def test_json_write_failure_propagates_in_observe_mode(store):
    _, memory = store.projects[1]
    memory["narrative"][0]["summary"] = "never written"
    target = store.memory_path("proj-000001")
    target.unlink()
    target.mkdir()  # the file cannot be replaced: the control's failure must reach the caller
    with pytest.raises(OSError):
        store.writer.save_memory(memory, workspace="proj-000001", mission_id=2)
    assert store.ledger.read().entries == ()
    assert ("never written",) not in store.sql("SELECT summary FROM session_narrative")


def test_successful_save_returns_mission_id_and_hash_is_stable(store, project):
    manifest, memory = project(7)
    result = store.writer.save_project(manifest, memory)
    assert result.shadow_ok
    assert store.sql("SELECT id FROM missions WHERE mission_uuid=?", "proj-000007") == [
        (result.mission_id,)
    ]
    reordered = dict(reversed(list(manifest.items())))
    assert document_hash(reordered) == document_hash(manifest)


def test_observe_keeps_a_manifest_without_key_in_json_when_its_folder_is_known(store):
    manifest, _ = store.projects[1]
    del manifest["metadata"]["projectId"]
    result = store.writer.save_manifest(manifest, workspace="proj-000001")
    assert read_json(store.manifest_path("proj-000001")) == manifest
    assert not result.shadow_ok
    (entry,) = store.ledger.read().entries
    assert "'projectId' is a required property" in entry.message
    with pytest.raises(InvalidDocumentError, match="no document key"):
        store.writer.save_manifest(manifest)  # without a folder it cannot be placed


def test_a_save_finds_the_folder_the_reference_named_its_own_way(tmp_path):
    """The reference keeps `agency-toolkit-001` in `workspaces/agency_toolkit/`: a save by
    key must write there, not make a second unit named after the key."""
    from shadow_audit.engine.run import audit
    from shadow_audit.synth import make_projects

    (manifest, memory), (other, other_memory) = make_projects(2, seed=3)
    source, db = tmp_path / "workspaces", tmp_path / "s.db"
    writer = DualWriter(JsonStore(source), SqliteShadow(db))
    writer.save_project(manifest, memory, workspace="agency_toolkit")
    manifest["metadata"]["owner"] = "changed@example.com"
    fresh = DualWriter(JsonStore(source), SqliteShadow(db))  # another process: no index yet
    fresh.save_project(manifest, memory)
    writer.save_project(manifest, memory)
    assert sorted(p.name for p in source.iterdir()) == ["agency_toolkit"]
    on_disk = orjson.loads((source / "agency_toolkit" / "project_manifest.json").read_bytes())
    assert on_disk["metadata"]["owner"] == "changed@example.com"
    assert audit(source, db).status == "GREEN"
    writer.save_project(other, other_memory)  # a new key still gets its own folder
    assert (source / other["metadata"]["projectId"] / "project_manifest.json").is_file()
