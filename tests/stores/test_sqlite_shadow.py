"""The SQLite shadow: DDL from the mapping, replace semantics, idempotent import, read-only."""

from __future__ import annotations

import sqlite3

import pytest

from shadow_audit.errors import DatabaseError
from shadow_audit.profiles import PHASES
from shadow_audit.stores.sqlite_shadow import SqliteShadow, connect_readonly


def dump(db) -> list[str]:
    conn = sqlite3.connect(db)
    try:
        return list(conn.iterdump())
    finally:
        conn.close()


def test_database_uses_wal_and_reference_column_names(tmp_path):
    shadow = SqliteShadow(tmp_path / "s.db")
    with shadow.connection() as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        cols = [r[1] for r in conn.execute("PRAGMA table_info(missions)")]
    for name in [
        "mission_uuid",
        "phase",
        "status",
        "created_at",
        "completed_at",
        "updated_at",
        "planning_sub_state",
        "max_cost_usd",
        "current_cost_usd",
        "alert_threshold",
        "cost_breakdown",
        "owner",
        "description",
        "api_version",
        "metadata",
    ]:
        assert name in cols
    assert {"name", "status_message", "status_updated_at", "roadmap"} <= set(cols)


@pytest.mark.parametrize("phase", PHASES)
def test_check_constraints_accept_every_schema_phase(tmp_path, project, phase):
    manifest, memory = project(0)
    manifest["status"]["projectPhase"] = phase
    manifest["status"]["planningSubState"] = "ARCHITECTURE_DESIGN"
    shadow = SqliteShadow(tmp_path / "s.db")
    mission_id = shadow.import_manifest(manifest, memory)
    with shadow.connection() as conn:
        row = conn.execute(
            "SELECT phase, status FROM missions WHERE id = ?", (mission_id,)
        ).fetchone()
    assert row == (phase, "completed" if phase == "PRODUCTION" else "in_progress")


def test_child_rows_use_replace_semantics(tmp_path, project):
    manifest, memory = project(0)
    shadow = SqliteShadow(tmp_path / "s.db")
    mid = shadow.import_manifest(manifest, memory)
    memory["narrative"][0]["summary"] = "edited summary"
    removed_session = memory["narrative"].pop()["session"]
    removed_concept = memory["domain"]["concepts"].pop(0)
    memory["domain"]["concerns"].append("new concern")
    assert shadow.import_manifest(manifest, memory) == mid
    with shadow.connection() as conn:
        sessions = dict(
            conn.execute(
                "SELECT session_num, summary FROM session_narrative WHERE mission_id = ?", (mid,)
            )
        )
        concepts = {r[0] for r in conn.execute("SELECT concept FROM domain_concepts")}
        concerns = {r[0] for r in conn.execute("SELECT concern FROM domain_concerns")}
    assert sessions[1] == "edited summary"
    assert removed_session not in sessions
    assert len(sessions) == len(memory["narrative"])
    assert removed_concept not in concepts and concepts == set(memory["domain"]["concepts"])
    assert "new concern" in concerns


def test_import_is_idempotent_byte_for_byte(tmp_path, project):
    shadow = SqliteShadow(tmp_path / "s.db")
    for i in range(3):
        shadow.import_manifest(*project(i))
    before = dump(tmp_path / "s.db")
    for i in range(3):
        shadow.import_manifest(*project(i))
    assert dump(tmp_path / "s.db") == before


def test_import_returns_stable_mission_id(tmp_path, project):
    shadow = SqliteShadow(tmp_path / "s.db")
    first = shadow.import_manifest(*project(0))
    second = shadow.import_manifest(*project(1))
    manifest, memory = project(0)
    manifest["status"]["message"] = "changed"
    assert shadow.import_manifest(manifest, memory) == first
    assert second != first


def test_readonly_connection_cannot_write(tmp_path, project):
    shadow = SqliteShadow(tmp_path / "s.db")
    shadow.import_manifest(*project(0))
    conn = connect_readonly(tmp_path / "s.db")
    with pytest.raises(sqlite3.OperationalError):
        conn.execute("DELETE FROM missions")
    conn.close()


def test_readonly_connection_errors_name_the_file(tmp_path):
    with pytest.raises(DatabaseError, match=f"database {tmp_path / 'none.db'}: no such file"):
        connect_readonly(tmp_path / "none.db")
    junk = tmp_path / "junk.db"
    junk.write_bytes(b"this is not sqlite, just text that is long enough" * 100)
    with pytest.raises(DatabaseError, match=f"database {junk}: cannot read as SQLite"):
        connect_readonly(junk)


def test_hostile_identifier_in_mapping_is_refused():
    from shadow_audit.errors import ConfigError
    from shadow_audit.mapping import Field

    with pytest.raises(ConfigError, match="not a plain SQL identifier"):
        Field(column='x"; DROP TABLE missions; --', path="a")
