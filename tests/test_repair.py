"""Repair: JSON wins; dry run changes nothing; execute fixes every kind of drift in one
transaction, keeps before-images and re-audits; refuses deletes while sources are invalid."""

from __future__ import annotations

import hashlib
import json
import shutil

from shadow_audit.engine.run import audit
from tests.conftest import make_store, run_cli


def drift(store) -> None:
    """One of each: changed field, missing row, extra row, deleted workspace, orphan row."""
    store.sql("UPDATE missions SET owner = 'mallory' WHERE mission_uuid = 'proj-000000'")
    store.sql("DELETE FROM session_narrative WHERE position = 0 AND mission_id = 2")
    store.sql(
        "INSERT INTO domain_concepts (mission_id, concept, timestamp) VALUES (3, 'stale', 't')"
    )
    shutil.rmtree(store.source / "proj-000004")
    store.sql("PRAGMA foreign_keys = OFF")
    store.sql(
        "INSERT INTO session_narrative (mission_id, position, session_num, summary, date, phase) VALUES (99, 0, 1, 's', 'd', 'p')"
    )


def repair(store, *flags):
    return run_cli(
        "repair",
        "--source",
        str(store.source),
        "--shadow",
        str(store.db),
        "--out",
        str(store.root / "out"),
        *flags,
    )


def digest(path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_dry_run_prints_the_plan_and_changes_nothing(store):
    drift(store)
    before = digest(store.db)
    run = repair(store)
    assert run.returncode == 1, run.stdout + run.stderr
    assert "UPDATE missions proj-000000 owner: 'mallory' -> 'owner0@example.com'" in run.stdout
    assert "INSERT session_narrative proj-000001/0" in run.stdout
    assert "DELETE domain_concepts proj-000002/stale" in run.stdout
    assert "DELETE missions proj-000004" in run.stdout
    assert "dry run: nothing changed" in run.stdout
    assert digest(store.db) == before


def test_execute_repairs_every_kind_and_keeps_before_images(store):
    drift(store)
    run = repair(store, "--execute")
    assert run.returncode == 0, run.stdout + run.stderr
    assert "re-audit: GREEN; 0 findings left on the repaired keys" in run.stdout
    assert audit(store.source, store.db).findings == ()
    (images,) = (store.root / "out").glob("repair-*.before.json")
    units = json.loads(images.read_text())["units"]
    assert units["proj-000000"]["missions"][0]["owner"] == "mallory"
    assert "proj-000004" in units
    assert store.sql("SELECT count(*) FROM missions WHERE mission_uuid = 'proj-000004'") == [(0,)]


def test_repair_of_a_clean_store_does_nothing(store):
    run = repair(store, "--execute")
    assert run.returncode == 0
    assert "nothing to repair" in run.stdout


def test_refuses_deletes_while_sources_are_invalid_unless_forced(store):
    shutil.rmtree(store.source / "proj-000004")
    (store.source / "proj-000003" / "project_manifest.json").write_text("{not json")
    refused = repair(store, "--execute")
    assert refused.returncode == 2
    assert (
        "refusing to delete 1 units from the shadow while 1 source documents are invalid"
        in refused.stderr
    )
    assert store.sql("SELECT count(*) FROM missions WHERE mission_uuid = 'proj-000004'") == [(1,)]
    forced = repair(store, "--execute", "--force")
    assert forced.returncode == 1  # the invalid document is still a finding
    assert store.sql("SELECT count(*) FROM missions WHERE mission_uuid = 'proj-000004'") == [(0,)]
    assert store.sql("SELECT count(*) FROM missions WHERE mission_uuid = 'proj-000003'") == [(1,)]


def test_migrate_turns_a_reference_v2_database_into_a_lossless_one(tmp_path):
    store = make_store(tmp_path, 3, reference_v2=True)
    assert not audit(store.source, store.db).coverage.complete
    run = repair(store, "--execute", "--migrate")
    assert run.returncode == 0, run.stdout + run.stderr
    assert (
        "migrated: missions, session_narrative, domain_concepts, domain_concerns, trajectory"
        in run.stdout
    )
    after = audit(store.source, store.db)
    assert after.status == "GREEN" and after.coverage.complete
    # the application's writer, created before the migration, sees the new schema at once
    manifest = store.projects[0][0]
    manifest["status"]["projectPhase"] = "AWAITING_CODE_GENERATION"
    assert store.writer.save_manifest(manifest).shadow_ok
    assert audit(store.source, store.db).findings == ()
