"""Coverage: against the reference system's v2 database the audit compares what exists and
lists what the shadow would lose; paths no mapping stores are counted."""

from __future__ import annotations

import dataclasses

from shadow_audit.config import Config
from shadow_audit.dualwrite import DualWriter
from shadow_audit.engine.run import audit
from shadow_audit.mapping import DocumentMap
from shadow_audit.profiles import REFERENCE
from shadow_audit.stores.json_store import JsonStore
from shadow_audit.stores.sqlite_shadow import SqliteShadow
from shadow_audit.synth import make_projects
from tests.conftest import EXTRA_COLUMNS, EXTRA_KEY_COLUMNS, make_store


def test_reference_v2_database_gives_coverage_not_a_crash(tmp_path):
    store = make_store(tmp_path, 3, reference_v2=True)
    result = audit(store.source, store.db)
    assert result.findings == ()
    assert result.status == "GREEN"
    missing = {(c["entity"], c["column"]) for c in result.coverage.missing_columns}
    assert missing == set(EXTRA_COLUMNS) | set(EXTRA_KEY_COLUMNS)
    assert {
        "metadata.name",
        "status.message",
        "status.lastUpdate",
        "roadmap",
        "domain.type",
        "intent_history",
    } <= set(result.coverage.lost_paths)
    assert not result.coverage.complete
    assert result.summary["missions"].compared_columns == 14


def test_a_value_drift_is_still_found_in_a_v2_database(tmp_path):
    store = make_store(tmp_path, 2, reference_v2=True)
    store.sql("UPDATE missions SET description = 'x' WHERE mission_uuid = 'proj-000001'")
    (finding,) = audit(store.source, store.db).findings
    assert (finding.entity, finding.key, finding.field) == (
        "missions",
        "proj-000001",
        "description",
    )


def test_missing_table_is_listed_and_makes_the_audit_red(store):
    store.sql("DROP TABLE domain_concerns")
    result = audit(store.source, store.db)
    assert result.coverage.missing_tables == ("domain_concerns",)
    assert "domain_concerns" not in result.summary
    assert result.status == "RED"


def test_paths_no_mapping_stores_are_counted(store):
    missions = REFERENCE.entity("missions")
    without_name = missions.__class__(
        **{
            **missions.__dict__,
            "fields": tuple(f for f in missions.fields if f.column not in ("name", "extra")),
        }
    )
    mapping = DocumentMap(
        name="partial",
        primary=REFERENCE.primary,
        companions=REFERENCE.companions,
        entities=(without_name, *REFERENCE.entities[1:]),
    )
    result = audit(store.source, store.db, config=Config(mapping=mapping))
    assert result.findings == ()
    assert result.coverage.unmapped_paths == (
        {"document": "manifest", "path": "metadata.name", "count": 5},
    )


def test_paths_the_extra_column_keeps_are_listed_as_kept_not_lost(tmp_path):
    """A map without a name column but with missions.extra: metadata.name travels in extra."""
    missions = REFERENCE.entity("missions")
    mapping = REFERENCE.with_entity(
        dataclasses.replace(
            missions, fields=tuple(f for f in missions.fields if f.column != "name")
        )
    )
    shadow = SqliteShadow(tmp_path / "s.db", mapping)
    writer = DualWriter(JsonStore(tmp_path / "w", mapping), shadow)
    for manifest, memory in make_projects(3, seed=2, sessions=3):
        writer.save_project(manifest, memory)
    result = audit(tmp_path / "w", tmp_path / "s.db", config=Config(mapping=mapping))
    assert result.findings == ()
    assert result.coverage.unmapped_paths == ()
    assert result.coverage.complete
    assert result.coverage.kept_as_extra == (
        {"document": "manifest", "path": "metadata.name", "count": 3, "column": "missions.extra"},
    )
    assert "metadata.name" not in result.coverage.lost_paths
    assert result.coverage.to_dict()["kept_as_extra"][0]["column"] == "missions.extra"
