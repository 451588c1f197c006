"""Every finding kind, injected by editing the SQLite or the JSON file directly, is reported
exactly once with the right entity, key, field and path; a clean store reports nothing."""

from __future__ import annotations

import shutil

import orjson
import pytest

from shadow_audit.config import Config
from shadow_audit.engine.run import audit
from tests.conftest import make_store


def findings(store, **kw):
    result = audit(store.source, store.db, **kw)
    return result, [f.to_dict() for f in result.findings]


def only(found: list[dict]) -> dict:
    assert len(found) == 1, found
    return found[0]


def test_clean_store_reports_nothing(store):
    result, found = findings(store)
    assert found == []
    assert result.status == "GREEN"
    assert result.documents == 5
    assert result.summary["missions"].matched == 5
    assert result.summary["session_narrative"].source_rows == sum(
        len(mem["narrative"]) for _, mem in store.projects
    )
    assert result.coverage.complete


def test_clean_despite_float_noise_key_order_list_order_and_utc_spelling(store):
    # float noise of 1e-12 in REAL columns
    store.sql(
        "UPDATE missions SET max_cost_usd = max_cost_usd + 1e-12, current_cost_usd = current_cost_usd - 1e-12"
    )
    # JSON columns rewritten with another key order and spacing
    for mid, meta in store.sql("SELECT id, metadata FROM missions"):
        shuffled = dict(reversed(list(orjson.loads(meta).items())))
        text = orjson.dumps(shuffled, option=orjson.OPT_INDENT_2).decode()
        store.sql("UPDATE missions SET metadata = ? WHERE id = ?", text, mid)
    # a set-like list stored in another order
    store.sql('UPDATE trajectory SET blockers = \'["b", "a"]\' WHERE id = 1')
    # Z against +00:00
    store.sql("UPDATE missions SET created_at = replace(created_at, 'Z', '+00:00')")
    # files: keys reordered, set-like lists reordered, and the matching blockers
    for manifest, memory in store.projects:
        pid = manifest["metadata"]["projectId"]
        store.manifest_path(pid).write_bytes(orjson.dumps(dict(reversed(list(manifest.items())))))
        memory["domain"]["concepts"].reverse()
        if store.sql("SELECT id FROM missions WHERE mission_uuid = ?", pid) == [(1,)]:
            memory["trajectory"]["blockers"] = ["a", "b"]
        store.memory_path(pid).write_bytes(orjson.dumps(memory))
    result, found = findings(store)
    assert found == []
    assert result.normalizers == {
        "float_tolerance": 10,
        "json_canonical": 5,
        "timestamp_instant": 5,
        "list_as_set": 1,
        "null_as_empty": 0,
    }


def test_missing_row(store):
    store.sql(
        "DELETE FROM session_narrative WHERE session_num = 2 AND mission_id = (SELECT id FROM missions WHERE mission_uuid = 'proj-000003')"
    )
    f = only(findings(store)[1])
    assert (f["kind"], f["entity"], f["key"], f["path"]) == (
        "missing_in_shadow",
        "session_narrative",
        "proj-000003/1",  # the list position is the key
        "narrative[#]",
    )
    assert f["source_value"]["session_num"] == 2


def test_missing_document(store):
    store.sql(
        "DELETE FROM trajectory WHERE mission_id = (SELECT id FROM missions WHERE mission_uuid = 'proj-000001')"
    )
    store.sql("DELETE FROM missions WHERE mission_uuid = 'proj-000001'")
    store.sql("DELETE FROM session_narrative WHERE mission_id NOT IN (SELECT id FROM missions)")
    store.sql("DELETE FROM domain_concepts WHERE mission_id NOT IN (SELECT id FROM missions)")
    store.sql("DELETE FROM domain_concerns WHERE mission_id NOT IN (SELECT id FROM missions)")
    result, found = findings(store)
    assert {f["kind"] for f in found} == {"missing_in_shadow"}
    assert {f["key"].split("/")[0] for f in found} == {"proj-000001"}
    assert result.summary["missions"].missing_in_shadow == 1


def test_extra_row(store):
    store.sql(
        "INSERT INTO domain_concepts (mission_id, concept, timestamp) SELECT id, 'teleportation', 'now' FROM missions WHERE mission_uuid = 'proj-000002'"
    )
    f = only(findings(store)[1])
    assert (f["kind"], f["entity"], f["key"], f["path"]) == (
        "extra_in_shadow",
        "domain_concepts",
        "proj-000002/teleportation",
        "domain.concepts[]",
    )


def test_orphan_child_row_is_extra(store):
    store.sql("PRAGMA foreign_keys = OFF")
    store.sql(
        "INSERT INTO session_narrative (mission_id, position, session_num, summary, date, phase) VALUES (999, 0, 1, 's', 'd', 'p')"
    )
    f = only(findings(store)[1])
    assert (f["kind"], f["key"]) == ("extra_in_shadow", "<orphan 999>/0")


def test_value_mismatch_in_a_column(store):
    store.sql("UPDATE missions SET owner = 'mallory' WHERE mission_uuid = 'proj-000004'")
    f = only(findings(store)[1])
    assert (f["kind"], f["entity"], f["key"], f["field"], f["path"]) == (
        "value_mismatch",
        "missions",
        "proj-000004",
        "owner",
        "metadata.owner",
    )
    assert f["shadow_value"] == "mallory"
    assert f["source_value"] == store.projects[4][0]["metadata"]["owner"]
    assert f["detail"]["values_changed"]["root"]["new_value"] == "mallory"


def test_value_mismatch_in_a_json_column_has_the_deepdiff_paths(store):
    meta = orjson.loads(
        store.sql("SELECT metadata FROM missions WHERE mission_uuid='proj-000000'")[0][0]
    )
    meta["spec"]["vibe"]["target_scope"] = "v9"
    store.sql(
        "UPDATE missions SET metadata = ? WHERE mission_uuid='proj-000000'",
        orjson.dumps(meta).decode(),
    )
    f = only(findings(store)[1])
    assert (f["field"], f["path"]) == ("metadata", "{artifacts,kind,spec}")
    assert f["detail"] == {
        "values_changed": {
            "root['spec']['vibe']['target_scope']": {"new_value": "v9", "old_value": "v1.0"}
        }
    }


def test_value_mismatch_from_an_out_of_band_json_edit(store):
    path = store.memory_path("proj-000001")
    memory = orjson.loads(path.read_bytes())
    memory["narrative"][0]["summary"] = "rewritten by hand"
    path.write_bytes(orjson.dumps(memory))
    f = only(findings(store)[1])
    assert (f["kind"], f["entity"], f["key"], f["field"], f["path"]) == (
        "value_mismatch",
        "session_narrative",
        "proj-000001/0",
        "summary",
        "narrative[].summary",
    )
    assert f["source_value"] == "rewritten by hand"


def test_float_beyond_tolerance_is_reported(store):
    store.sql(
        "UPDATE missions SET alert_threshold = alert_threshold + 0.01 WHERE mission_uuid = 'proj-000000'"
    )
    assert only(findings(store)[1])["field"] == "alert_threshold"


def test_invalid_source_is_listed_and_left_out(store):
    path = store.manifest_path("proj-000002")
    manifest = orjson.loads(path.read_bytes())
    manifest["status"]["projectPhase"] = "DONE"
    path.write_bytes(orjson.dumps(manifest))
    result, found = findings(store)
    f = only(found)
    assert (f["kind"], f["entity"], f["key"], f["path"]) == (
        "invalid_source",
        "manifest",
        "proj-000002",
        str(path),
    )
    assert f["detail"] == [
        "/status/projectPhase: 'DONE' is not one of ['PLANNING', 'AWAITING_CODE_GENERATION', 'CODING', 'TESTING', 'DEPLOYMENT', 'MAINTENANCE', 'PRODUCTION']"
    ]
    assert result.summary["missions"].source_rows == 4


def test_unparseable_source_is_listed_with_line_and_column(store):
    path = store.manifest_path("proj-000003")
    path.write_text('{\n  "apiVersion": \n')
    f = only(findings(store)[1])
    assert (f["kind"], f["key"]) == ("invalid_source", "proj-000003")
    assert f["detail"][0].startswith("not valid JSON at line 3, column 1")


def test_invalid_memory_leaves_out_only_memory_tables(store):
    path = store.memory_path("proj-000004")
    path.write_text("[]")
    result, found = findings(store)
    f = only(found)
    assert (f["kind"], f["entity"], f["key"]) == ("invalid_source", "memory", "proj-000004")
    assert result.summary["missions"].source_rows == 5
    assert result.summary["trajectory"].source_rows == 4


def test_duplicate_key_in_source(store):
    shutil.copytree(store.source / "proj-000001", store.source / "proj-000001-copy")
    f = only(findings(store)[1])
    assert (f["kind"], f["entity"], f["key"], f["path"]) == (
        "duplicate_key",
        "missions",
        "proj-000001",
        "metadata.projectId",
    )
    assert "proj-000001-copy" in f["detail"]


def test_duplicate_key_in_shadow(store):
    store.sql("CREATE TABLE t AS SELECT * FROM session_narrative")
    store.sql("DROP TABLE session_narrative")
    store.sql("ALTER TABLE t RENAME TO session_narrative")
    store.sql(
        "INSERT INTO session_narrative SELECT id + 1000, mission_id, position, session_num, summary, date, phase FROM session_narrative WHERE id = 1"
    )
    f = only(findings(store)[1])
    assert (f["kind"], f["entity"], f["key"]) == (
        "duplicate_key",
        "session_narrative",
        "proj-000000/0",
    )


def test_repeated_session_number_is_no_duplicate_the_position_is_the_key(store):
    """The reference numbers every session after the 50th 51: a repeated number is data."""
    path = store.memory_path("proj-000000")
    memory = orjson.loads(path.read_bytes())
    memory["narrative"].append(dict(memory["narrative"][0], summary="again"))
    path.write_bytes(orjson.dumps(memory))
    f = only(findings(store)[1])
    assert (f["kind"], f["entity"], f["key"], f["path"]) == (
        "missing_in_shadow",
        "session_narrative",
        f"proj-000000/{len(memory['narrative']) - 1}",
        "narrative[#]",
    )


def test_duplicate_child_key_inside_one_document_of_a_v2_database(tmp_path):
    """A v2 database keys the narrative by session number: a repeated one is a duplicate."""
    store = make_store(tmp_path, 2, reference_v2=True)
    path = store.memory_path("proj-000000")
    memory = orjson.loads(path.read_bytes())
    memory["narrative"].append(dict(memory["narrative"][0], summary="again"))
    path.write_bytes(orjson.dumps(memory))
    f = only(findings(store)[1])
    assert (f["kind"], f["entity"], f["key"], f["path"]) == (
        "duplicate_key",
        "session_narrative",
        "proj-000000/1",
        "narrative[].session",
    )


@pytest.mark.parametrize("expired", [False, True])
def test_ignore_rules_list_apart_until_they_expire(store, expired):
    from datetime import date

    from shadow_audit.config import IgnoreRule

    store.sql("UPDATE missions SET owner = 'x' WHERE mission_uuid = 'proj-000000'")
    rule = IgnoreRule(
        entity="missions", path="metadata.*", reason="known", expires=date(2026, 1, 31)
    )
    today = date(2026, 2, 1) if expired else date(2026, 1, 31)
    result = audit(store.source, store.db, config=Config(ignore=(rule,)), today=today)
    assert len(result.findings) == (1 if expired else 0)
    assert len(result.ignored) == (0 if expired else 1)
    assert result.status == ("RED" if expired else "GREEN")
