"""The mapping: document -> rows -> document round trip, coverage of paths, safe identifiers."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from shadow_audit.errors import ConfigError
from shadow_audit.mapping import (
    DocumentMap,
    DocumentSpec,
    Entity,
    Field,
    build_documents,
    iter_rows,
)
from shadow_audit.profiles import REFERENCE
from shadow_audit.synth import make_project
from tests.conftest import EXTRA_COLUMNS, examples


def rows_of(manifest: dict[str, Any], memory: dict[str, Any] | None) -> dict[str, list]:
    docs = {"manifest": manifest, **({"memory": memory} if memory else {})}
    out: dict[str, list] = {}
    for e in REFERENCE.entities:
        if e.document in docs:
            fields = e.projected_fields
            out[e.table] = [
                (k, {f.column: v for f, v in zip(fields, values, strict=True)})
                for k, values in iter_rows(e, docs[e.document], fields)
            ]
    return out


@settings(max_examples=examples(60), deadline=None)
@given(st.randoms(use_true_random=False), st.booleans(), st.booleans())
def test_round_trip_is_lossless(rng, with_roadmap, completed):
    manifest, memory = make_project(rng.randrange(1000), rng)
    if not with_roadmap:
        manifest.pop("roadmap", None)
    if completed:
        manifest["status"]["completedAt"] = "2025-12-01T00:00:00Z"
    rows = rows_of(manifest, memory)
    rebuilt = build_documents(REFERENCE, manifest["metadata"]["projectId"], rows)
    assert rebuilt["manifest"] == manifest
    assert rebuilt["memory"] == memory  # list order included


def test_manifest_without_memory_rebuilds_only_the_manifest():
    import random

    manifest, _ = make_project(1, random.Random(1))
    rebuilt = build_documents(REFERENCE, "proj-000001", rows_of(manifest, None))
    assert set(rebuilt) == {"manifest"}


def test_derived_status_follows_the_reference_rule():
    import random

    manifest, _ = make_project(1, random.Random(1))
    missions = REFERENCE.entity("missions")
    status = missions.fields.index(missions.field("status"))
    manifest["status"]["projectPhase"] = "PRODUCTION"
    assert next(iter_rows(missions, manifest, missions.fields))[1][status] == "completed"
    manifest["status"]["projectPhase"] = "TESTING"
    assert next(iter_rows(missions, manifest, missions.fields))[1][status] == "in_progress"
    manifest["status"]["completedAt"] = "2025-12-01T00:00:00Z"
    assert next(iter_rows(missions, manifest, missions.fields))[1][status] == "completed"


def test_covered_paths_include_every_stored_manifest_and_memory_path():
    covered = REFERENCE.covered_paths()
    assert {
        "metadata.name",
        "status.message",
        "status.lastUpdate",
        "roadmap",
        "spec",
        "artifacts",
        "kind",
    } <= covered["manifest"]
    assert {"domain.type", "intent_history", "narrative[].summary", "domain.concepts[]"} <= covered[
        "memory"
    ]


def test_reference_columns_are_marked():
    extra = [(e.table, f.column) for e in REFERENCE.entities for f in e.fields if not f.reference]
    assert extra == EXTRA_COLUMNS


@pytest.mark.parametrize("name", ["bad name", "x;drop", '"q"', "1abc", ""])
def test_identifiers_must_be_plain(name):
    with pytest.raises(ConfigError):
        Entity(table=name, document="d", key_column="k", fields=())


def test_child_must_come_after_its_parent():
    child = Entity(
        table="lines",
        document="d",
        key_column="n",
        key_path="n",
        rows_from="lines",
        parent="orders",
        link_column="order_id",
        fields=(),
    )
    with pytest.raises(ConfigError, match="parent 'orders' must be declared before it"):
        DocumentMap(name="m", primary=DocumentSpec("d", "*.json", key_path="id"), entities=(child,))


def test_field_needs_exactly_one_source():
    with pytest.raises(ConfigError, match="exactly one of path, paths, derive"):
        Field(column="c")
    with pytest.raises(ConfigError, match="unknown derivation"):
        Field(column="c", derive="nope")


@pytest.mark.parametrize("name", ["missions\n", "proj\n", "a b", ""])
def test_identifiers_and_safe_names_end_where_they_end(name):
    from shadow_audit.errors import ConfigError, UsageError
    from shadow_audit.mapping import check_identifier
    from shadow_audit.stores.json_store import check_safe_name

    with pytest.raises(ConfigError):
        check_identifier(name, "table")
    with pytest.raises(UsageError):
        check_safe_name(name, "workspace")
