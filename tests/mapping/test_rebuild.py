"""The compiled rebuild (the read path of ``load`` in sqlite-primary) equals the reference
``build_documents`` on the same rows, read from a real database; both equal what was saved.

Cases: generated projects, memories grown the reference way with unknown keys anywhere,
the real fixtures, a database that lacks columns (a missing order column, missing rest and
JSON columns), and a map of our own with branches the built-in profile does not use (a
child keyed by a named path, a position column beside it, deep paths, a composite column).
"""

from __future__ import annotations

import random
import sqlite3
from contextlib import closing
from pathlib import Path
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from shadow_audit.mapping import (
    POSITION,
    DocumentMap,
    DocumentSpec,
    Entity,
    Field,
    build_documents,
    compile_rebuilder,
)
from shadow_audit.profiles import REFERENCE
from shadow_audit.stores.rows import UnitReader, read_unit_rows
from shadow_audit.stores.sqlite_shadow import SqliteShadow
from shadow_audit.synth import make_project
from tests.conftest import examples
from tests.reference_growth import JSON_VALUES, UNKNOWN_KEYS, Clock, grow, plant

SETTINGS = settings(
    max_examples=examples(40),
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)


def both_rebuilds(db: Path, mapping: DocumentMap, key: str) -> tuple[Any, Any]:
    """(compiled, reference) for one key, read in one snapshot of a real database."""
    with closing(sqlite3.connect(db)) as conn:
        compiled = compile_rebuilder(mapping)(key, UnitReader(mapping).read(conn, key))
        reference = build_documents(mapping, key, read_unit_rows(conn, mapping, key))
    return compiled, reference


def save(db: Path, mapping: DocumentMap, key: str, documents: dict[str, Any]) -> None:
    shadow = SqliteShadow(db, mapping)
    with shadow.transaction() as conn:
        shadow.write(conn, key, documents)


@SETTINGS
@given(st.randoms(use_true_random=False), st.booleans())
def test_compiled_equals_reference_for_generated_projects(tmp_path_factory, rng, with_memory):
    tmp_path = tmp_path_factory.mktemp("rebuild")
    manifest, memory = make_project(rng.randrange(10**6), rng)
    documents = {"manifest": manifest, **({"memory": memory} if with_memory else {})}
    key = manifest["metadata"]["projectId"]
    save(tmp_path / "s.db", REFERENCE, key, documents)
    compiled, reference = both_rebuilds(tmp_path / "s.db", REFERENCE, key)
    assert compiled == reference == documents


@SETTINGS
@given(
    sessions=st.integers(0, 70),
    seed=st.integers(0, 2**16),
    extras=UNKNOWN_KEYS,
)
def test_compiled_equals_reference_for_grown_memories_with_unknown_keys(
    tmp_path_factory, sessions, seed, extras
):
    """Memories grown by the reference's rules, unknown keys anywhere (they travel in
    ``extra``, the element patches included): equal, list order included."""
    tmp_path = tmp_path_factory.mktemp("rebuild")
    rng = random.Random(seed)
    unit = tmp_path / "some_project"
    memory = grow(unit, sessions, rng, Clock(rng))
    plant(memory, extras)
    manifest, _ = make_project(seed, rng)
    key = manifest["metadata"]["projectId"]
    manifest["research_metadata"] = {"interviews": seed % 5, "notes": [None, "b"]}
    documents = {"manifest": manifest, "memory": memory}
    save(tmp_path / "s.db", REFERENCE, key, documents)
    compiled, reference = both_rebuilds(tmp_path / "s.db", REFERENCE, key)
    assert compiled == reference == documents


def test_compiled_equals_reference_for_the_fixtures(tmp_path, vibe_fixtures):
    kept = 0
    for path in sorted(vibe_fixtures.glob("*project_manifest.json")):
        manifest = orjson.loads(path.read_bytes())
        key = (manifest.get("metadata") or {}).get("projectId")
        if not isinstance(key, str):
            continue
        db = tmp_path / f"{path.stem}.db"
        try:
            save(db, REFERENCE, key, {"manifest": manifest})
        except sqlite3.IntegrityError:  # a legacy shape the tables reject (CHECK, NOT NULL)
            continue
        kept += 1
        compiled, reference = both_rebuilds(db, REFERENCE, key)
        assert compiled == reference == {"manifest": manifest}, path.name
    assert kept >= 1


def test_a_database_lacking_columns_rebuilds_the_same_as_the_reference(tmp_path):
    """No concepts position (order by key instead), no roadmap, extra or intent history:
    both rebuilds read what is there the same way (lossy alike, never a crash)."""
    manifest, memory = make_project(7, random.Random(7))
    manifest["research_metadata"] = {"x": 1}
    key = manifest["metadata"]["projectId"]
    db = tmp_path / "s.db"
    save(db, REFERENCE, key, {"manifest": manifest, "memory": memory})
    with closing(sqlite3.connect(db)) as conn:
        for table, column in [
            ("domain_concepts", "position"),
            ("missions", "roadmap"),
            ("missions", "extra"),
            ("trajectory", "intent_history"),
        ]:
            conn.execute(f"ALTER TABLE {table} DROP COLUMN {column}")
        conn.commit()
    compiled, reference = both_rebuilds(db, REFERENCE, key)
    assert compiled == reference
    assert "roadmap" not in compiled["manifest"] and "research_metadata" not in compiled["manifest"]
    assert compiled["memory"]["domain"]["concepts"] == sorted(memory["domain"]["concepts"])


# A map of our own: tasks keyed by their "id", a position column keeping list order, a deep
# path, a composite column, a JSON column, and the rest of each task in the parent's extra.
OWN = DocumentMap(
    name="own",
    primary=DocumentSpec(name="board", pattern="*/board.json", key_path="board.id"),
    entities=(
        Entity(
            table="boards",
            document="board",
            key_column="board_id",
            key_path="board.id",
            fields=(
                Field("title", path="board.meta.title.text"),
                Field("owner", paths=(("name", "owner.name"), ("mail", "owner.mail"))),
                Field("labels", path="labels", type="json"),
                Field("extra", type="json", rest=True),
            ),
        ),
        Entity(
            table="tasks",
            document="board",
            key_column="task_id",
            key_path="id",
            parent="boards",
            link_column="board_ref",
            rows_from="work.tasks",
            fields=(
                Field("position", path=POSITION, type="integer"),
                Field("title", path="title"),
                Field("estimate", path="sizing.estimate", type="integer"),
            ),
        ),
    ),
)


@SETTINGS
@given(
    tasks=st.lists(
        st.fixed_dictionaries(
            {"title": st.text(max_size=8)},
            optional={
                "sizing": st.fixed_dictionaries({"estimate": st.integers(0, 99)}),
                "note": JSON_VALUES,
            },
        ),
        max_size=6,
    ),
    owner=st.fixed_dictionaries({}, optional={"name": st.text(max_size=5), "mail": JSON_VALUES}),
    extra=st.dictionaries(st.sampled_from(["a", "b", "meta"]), JSON_VALUES, max_size=2),
)
def test_own_map_child_keyed_by_a_path_comes_back_in_list_order(
    tmp_path_factory, tasks, owner, extra
):
    """Task ids counting down (key order is the reverse of list order): the position column,
    not the key, gives the order; deep, composite and JSON columns come back where they were."""
    for i, task in enumerate(tasks):
        task["id"] = f"t{len(tasks) - i:02d}"
    board = {
        **extra,
        "board": {"id": "b-1", "meta": {"title": {"text": "Sprint"}}},
        "owner": owner,
        "labels": ["z", "a"],
        "work": {"tasks": tasks},
    }
    db = tmp_path_factory.mktemp("rebuild") / "own.db"
    save(db, OWN, "b-1", {"board": board})
    compiled, reference = both_rebuilds(db, OWN, "b-1")
    assert compiled == reference == {"board": board}


def test_compiled_rebuilder_is_made_once_per_map():
    assert compile_rebuilder(REFERENCE) is compile_rebuilder(REFERENCE)
    assert compile_rebuilder(OWN) is not compile_rebuilder(REFERENCE)


@pytest.mark.parametrize("mapping", [REFERENCE, OWN], ids=["reference", "own"])
def test_no_root_row_is_no_document(tmp_path, mapping):
    SqliteShadow(tmp_path / "s.db", mapping)
    with closing(sqlite3.connect(tmp_path / "s.db")) as conn:
        assert UnitReader(mapping).read(conn, "nobody") == {}
        assert read_unit_rows(conn, mapping, "nobody") == {}
