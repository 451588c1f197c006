"""Coverage: against the reference system's v2 database the audit compares what exists and
lists what the shadow would lose; paths no mapping stores are counted."""

from __future__ import annotations

from shadow_audit.config import Config
from shadow_audit.engine.run import audit
from shadow_audit.mapping import DocumentMap
from shadow_audit.profiles import REFERENCE
from tests.conftest import EXTRA_COLUMNS, make_store


def test_reference_v2_database_gives_coverage_not_a_crash(tmp_path):
    store = make_store(tmp_path, 3, reference_v2=True)
    result = audit(store.source, store.db)
    assert result.findings == ()
    assert result.status == "GREEN"
    missing = {(c["entity"], c["column"]) for c in result.coverage.missing_columns}
    assert missing == set(EXTRA_COLUMNS)
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
        **{**missions.__dict__, "fields": tuple(f for f in missions.fields if f.column != "name")}
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
