"""Backfill: imports what is valid, reports what is not, changes nothing the second time."""

from __future__ import annotations

import sqlite3

import orjson

from shadow_audit.backfill import backfill
from shadow_audit.stores.json_store import JsonStore
from shadow_audit.stores.sqlite_shadow import SqliteShadow
from shadow_audit.synth import make_projects
from tests.conftest import run_cli

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
    assert again.imported == 1000
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
    cmd = [
        "backfill",
        "--source",
        str(tmp_path / "src"),
        "--shadow",
        str(tmp_path / "db" / "s.db"),
    ]
    ok = run_cli(*cmd)
    assert ok.returncode == 0, ok.stderr
    assert "3 of 3 units imported" in ok.stdout
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
