"""Proven on what the reference system really writes: stores grown by its own update rules
(tests/reference_growth.py) backfill, audit GREEN with complete coverage, and come back
from the shadow whole, list order included."""

from __future__ import annotations

import random
import shutil
import sqlite3
from contextlib import closing
from pathlib import Path
from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from shadow_audit.backfill import backfill
from shadow_audit.engine.run import audit
from shadow_audit.mapping import build_documents, iter_rows
from shadow_audit.profiles import REFERENCE, REFERENCE_V2_DDL
from shadow_audit.stores.json_store import JsonStore
from shadow_audit.stores.rows import read_unit_rows
from shadow_audit.stores.sqlite_shadow import SqliteShadow, connect_readonly
from tests.conftest import audit_cli, examples, run_cli
from tests.reference_growth import UNKNOWN_KEYS, Clock, grow, plant, write_reference_store
from tests.test_validation import FIXTURE_VERDICTS

# 0: a manifest without memory; 60 and 120: more than 50 sessions, so numbers repeat
SESSIONS = [0, 1, 7, 50, 60, 120]


@pytest.fixture
def reference_store(tmp_path: Path) -> tuple[Path, dict[str, Any]]:
    source = tmp_path / "workspaces"
    return source, write_reference_store(source, SESSIONS, seed=5)


def test_the_generator_writes_what_the_reference_writes(reference_store):
    source, units = reference_store
    _, memory = units["workspace_005"]
    assert memory is not None
    assert (source / "workspace_005" / ".vibe" / "project_memory.json").is_file()
    assert not (source / "workspace_005" / "project_memory.json").exists()
    sessions = [n["session"] for n in memory["narrative"]]
    assert len(sessions) == 50 and sessions[-3:] == [51, 51, 51]
    assert memory["project_id"] == "workspace_005"  # the folder, not ref-project-005
    assert {i["confidence"] for i in memory["intent_history"]} <= {"high", "medium"}
    assert len(memory["intent_history"]) <= 100
    assert "T" in memory["_created"] and "+" not in memory["_created"]
    assert "UNKNOWN" in {n["phase"] for n in memory["narrative"]}


def test_reference_store_backfills_and_audits_green_with_complete_coverage(
    tmp_path, reference_store
):
    source, _ = reference_store
    db = tmp_path / "shadow.db"
    done = run_cli("backfill", "--source", str(source), "--shadow", str(db))
    assert done.returncode == 0, done.stdout + done.stderr
    out = tmp_path / "report"
    result = audit_cli(source, db, out)
    assert result.returncode == 0, result.stdout + result.stderr
    report = orjson.loads((out / "report.json").read_bytes())
    assert report["status"] == "GREEN"
    assert report["findings"] == []
    assert report["coverage"]["complete"] is True
    assert report["coverage"]["lost_paths"] == []
    narrative = report["summary"]["session_narrative"]
    assert narrative["source_rows"] == narrative["matched"] == 1 + 7 + 50 + 50 + 50


def test_reference_store_comes_back_from_the_shadow_whole(tmp_path, reference_store):
    """build_documents(rows read from SQLite) == the saved documents, list order included."""
    source, units = reference_store
    result = backfill(JsonStore(source), SqliteShadow(tmp_path / "s.db"))
    assert (result.imported, result.skipped) == (len(SESSIONS), ())
    with closing(connect_readonly(tmp_path / "s.db")) as conn:
        for manifest, memory in units.values():
            key = manifest["metadata"]["projectId"]
            rebuilt = build_documents(REFERENCE, key, read_unit_rows(conn, REFERENCE, key))
            assert rebuilt["manifest"] == manifest
            assert rebuilt.get("memory") == memory


def test_unknown_keys_and_nulls_travel_in_extra_and_come_back(tmp_path, reference_store):
    source, units = reference_store
    manifest, memory = units["workspace_003"]
    assert memory is not None
    manifest["research_metadata"] = {"interviews": 3, "notes": [None, "b"]}
    manifest["metadata"]["tags"] = ["yoga", "mvp"]
    manifest["status"]["planningSubState"] = None
    memory["narrative"][4]["mood"] = "good"
    memory["domain"]["concerns"] = []
    memory["custom"] = {"x": 1}
    (source / "workspace_003" / "project_manifest.json").write_bytes(orjson.dumps(manifest))
    (source / "workspace_003" / ".vibe" / "project_memory.json").write_bytes(orjson.dumps(memory))
    shadow = SqliteShadow(tmp_path / "s.db")
    shadow.import_manifest(manifest, memory)
    with closing(connect_readonly(tmp_path / "s.db")) as conn:
        key = manifest["metadata"]["projectId"]
        rebuilt = build_documents(REFERENCE, key, read_unit_rows(conn, REFERENCE, key))
        (extra,) = conn.execute(
            "SELECT extra FROM missions WHERE mission_uuid = ?", (key,)
        ).fetchone()
    assert rebuilt == {"manifest": manifest, "memory": memory}
    assert orjson.loads(extra)["metadata"] == {"tags": ["yoga", "mvp"]}
    assert orjson.loads(extra)["status"] == {"planningSubState": None}


def test_kept_paths_are_reported_as_kept_not_lost(tmp_path, reference_store):
    source, units = reference_store
    manifest, _ = units["workspace_001"]
    manifest["research_metadata"] = {"interviews": 3}
    (source / "workspace_001" / "project_manifest.json").write_bytes(orjson.dumps(manifest))
    shadow = SqliteShadow(tmp_path / "s.db")
    backfill(JsonStore(source), shadow)  # skips the invalid manifest: import it anyway
    shadow.import_manifest(manifest, units["workspace_001"][1])
    result = audit(source, tmp_path / "s.db", config=_unvalidated())
    assert result.findings == ()
    assert result.coverage.complete
    assert result.coverage.kept_as_extra == (
        {
            "document": "manifest",
            "path": "research_metadata",
            "count": 1,
            "column": "missions.extra",
        },
    )


def _unvalidated() -> Any:
    from shadow_audit.config import Config

    return Config(validate=False)


def fill_like_the_reference_v2(source: Path, tmp_path: Path) -> Path:
    """A v2 database as the reference fills it: rows inserted, duplicates ignored (the
    first of the repeated session numbers stays). Backfill refuses such a database."""
    full = tmp_path / "full.db"
    backfill(JsonStore(source), SqliteShadow(full))
    db = tmp_path / "v2.db"
    with closing(sqlite3.connect(db)) as conn:
        conn.executescript(REFERENCE_V2_DDL)
        conn.execute("ATTACH DATABASE ? AS full", (str(full),))
        tables = [
            t for (t,) in conn.execute("SELECT name FROM full.sqlite_master WHERE type = 'table'")
        ]
        for table in (
            "missions",
            "session_narrative",
            "domain_concepts",
            "domain_concerns",
            "trajectory",
        ):
            assert table in tables
            mine = {r[1] for r in conn.execute(f"PRAGMA main.table_info({table})")}
            cols = ", ".join(
                r[1] for r in conn.execute(f"PRAGMA full.table_info({table})") if r[1] in mine
            )
            conn.execute(
                f"INSERT OR IGNORE INTO main.{table} ({cols}) SELECT {cols} FROM full.{table} ORDER BY id"
            )
        conn.commit()
    return db


def test_a_reference_v2_database_is_audited_by_session_number(tmp_path, reference_store):
    """No position column: it is listed in coverage, rows are keyed by session number, and
    the sessions that database really lost (repeated numbers) show, never a crash."""
    source, _ = reference_store
    db = fill_like_the_reference_v2(source, tmp_path)
    result = audit(source, db)
    assert {"entity": "session_narrative", "column": "position"} in [
        {k: c[k] for k in ("entity", "column")} for c in result.coverage.missing_columns
    ]
    duplicated = {f.key for f in result.findings if f.kind == "duplicate_key"}
    assert duplicated == {"ref-project-004/51", "ref-project-005/51"}
    assert {f.kind for f in result.findings} == {"duplicate_key"}
    # 60 sessions: 11..50 then ten 51s (one key, excluded); 120 sessions: fifty 51s
    assert result.summary["session_narrative"].matched == 1 + 7 + 50 + 40 + 0


def test_migrating_a_v2_database_fills_positions_in_session_order(tmp_path, reference_store):
    source, _ = reference_store
    db = fill_like_the_reference_v2(source, tmp_path)
    shadow = SqliteShadow(db, create=False)
    assert "session_narrative" in shadow.migrate()
    with closing(sqlite3.connect(db)) as conn:
        rows = conn.execute(
            "SELECT position, session_num FROM session_narrative n JOIN missions m "
            "ON n.mission_id = m.id WHERE m.mission_uuid = 'ref-project-003' ORDER BY position"
        ).fetchall()
    assert rows == [(i, i + 1) for i in range(50)]
    backfill(JsonStore(source), shadow)  # now the repeated sessions fit
    result = audit(source, db)
    assert result.findings == () and result.coverage.complete


def test_memory_beside_the_manifest_is_found_too(tmp_path, reference_store):
    source, _ = reference_store
    vibe = source / "workspace_002" / ".vibe"
    shutil.move(vibe / "project_memory.json", source / "workspace_002" / "project_memory.json")
    vibe.rmdir()
    backfill(JsonStore(source), SqliteShadow(tmp_path / "s.db"))
    result = audit(source, tmp_path / "s.db")
    assert result.findings == ()
    assert result.summary["session_narrative"].matched == 1 + 7 + 50 + 50 + 50


def test_two_memories_in_one_unit_are_an_invalid_source_naming_both(tmp_path, reference_store):
    """The .vibe one is the memory (the reference reads only it); the other is reported."""
    source, _ = reference_store
    unit = source / "workspace_002"
    shutil.copy(unit / ".vibe" / "project_memory.json", unit / "project_memory.json")
    result = backfill(JsonStore(source), SqliteShadow(tmp_path / "s.db"))
    assert [s.path for s in result.skipped] == [str(unit / "project_memory.json")]
    found = audit(source, tmp_path / "s.db").findings
    assert [(f.kind, f.key, f.path) for f in found] == [
        ("invalid_source", "ref-project-002", str(unit / "project_memory.json"))
    ]
    assert str(unit / ".vibe" / "project_memory.json") in found[0].detail[0]


def test_json_store_writes_memories_where_the_reference_does(tmp_path):
    store = JsonStore(tmp_path)
    assert store.path_for("alpha", "memory") == tmp_path / "alpha" / ".vibe" / "project_memory.json"
    (tmp_path / "beta").mkdir()
    (tmp_path / "beta" / "project_memory.json").write_text("{}")
    assert store.path_for("beta", "memory") == tmp_path / "beta" / "project_memory.json"


def test_set_like_json_columns_store_the_list_in_its_own_order(tmp_path, reference_store):
    _, units = reference_store
    manifest, memory = units["workspace_004"]
    assert memory is not None
    memory["trajectory"]["blockers"] = ["zeta", "alpha"]
    SqliteShadow(tmp_path / "s.db").import_manifest(manifest, memory)
    with closing(sqlite3.connect(tmp_path / "s.db")) as conn:
        assert conn.execute("SELECT blockers FROM trajectory").fetchone() == ('["zeta","alpha"]',)
        concepts = [
            c for (c,) in conn.execute("SELECT concept FROM domain_concepts ORDER BY position")
        ]
    assert concepts == memory["domain"]["concepts"]


def rows_of(documents: dict[str, Any]) -> dict[str, list[Any]]:
    out: dict[str, list[Any]] = {}
    for e in REFERENCE.entities:
        if e.document in documents:
            fields = e.projected_fields
            out[e.table] = [
                (k, {f.column: v for f, v in zip(fields, values, strict=True)})
                for k, values in iter_rows(e, documents[e.document], fields)
            ]
    return out


@settings(max_examples=examples(40), deadline=None)
@given(
    sessions=st.integers(0, 130),
    seed=st.integers(0, 2**16),
    extras=UNKNOWN_KEYS,
)
def test_round_trip_law_for_grown_memories(tmp_path_factory, sessions, seed, extras):
    """For any memory the reference's rules grow, plus unknown keys anywhere: rows built
    from it rebuild it exactly (==, list order included)."""
    root = tmp_path_factory.mktemp("p") / "some_project"
    rng = random.Random(seed)
    memory = grow(root, sessions, rng, Clock(rng))
    plant(memory, extras)
    manifest = {"metadata": {"projectId": "p-1"}}
    rebuilt = build_documents(REFERENCE, "p-1", rows_of({"manifest": manifest, "memory": memory}))
    assert rebuilt["memory"] == memory


VALID_FIXTURES = sorted(k for k, valid in FIXTURE_VERDICTS.items() if valid)


@pytest.mark.parametrize("prefix", VALID_FIXTURES)
def test_every_valid_reference_manifest_backfills_audits_green_and_comes_back_whole(
    tmp_path, vibe_fixtures, prefix
):
    """Each manifest the reference's own schema accepted, in the folder the reference uses,
    with a memory grown beside it: imported, GREEN with complete coverage, rebuilt equal."""
    (path,) = vibe_fixtures.glob(f"{prefix}__*.json")
    manifest = orjson.loads(path.read_bytes())
    unit = tmp_path / "workspaces" / path.name.split("__")[1].removesuffix("_project_manifest.json")
    unit.mkdir(parents=True)
    shutil.copy(path, unit / "project_manifest.json")
    rng = random.Random(prefix)
    memory = grow(unit, 55, rng, Clock(rng))
    result = backfill(JsonStore(tmp_path / "workspaces"), SqliteShadow(tmp_path / "s.db"))
    assert (result.imported, result.skipped) == (1, ())
    audited = audit(tmp_path / "workspaces", tmp_path / "s.db")
    assert audited.findings == ()
    assert audited.coverage.complete, audited.coverage.to_dict()
    key = manifest["metadata"]["projectId"]
    with closing(connect_readonly(tmp_path / "s.db")) as conn:
        rebuilt = build_documents(REFERENCE, key, read_unit_rows(conn, REFERENCE, key))
    assert rebuilt == {"manifest": manifest, "memory": memory}
