"""The fast projector gives exactly what the reference implementation (iter_rows) gives."""

from __future__ import annotations

import copy
import random
from collections import OrderedDict
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from shadow_audit.mapping import ELEMENT, POSITION, Entity, Field, compile_projector, iter_rows
from shadow_audit.mapping.projection import compile_stored_projector, stored
from shadow_audit.profiles import REFERENCE, SESSION_NARRATIVE
from shadow_audit.synth import make_project
from tests.conftest import examples
from tests.reference_growth import StrSubclass, grown_memories

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**63), 2**63 - 1)
    | st.floats(allow_nan=False)
    | st.text(max_size=5),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3)
    ),
    max_leaves=8,
)


def both(entity, doc):
    fields = entity.compared_fields
    fast = [(k, stored(v)) for k, v in compile_projector(entity, fields)(doc)]
    assert compile_stored_projector(entity, fields)(doc) == fast
    return fast, list(iter_rows(entity, doc, fields))


@pytest.mark.parametrize("entity", REFERENCE.entities, ids=lambda e: e.table)
def test_generated_documents_project_identically(entity):
    rng = random.Random(5)
    for i in range(50):
        manifest, memory = make_project(i, rng)
        doc = manifest if entity.document == "manifest" else memory
        fast, reference = both(entity, doc)
        assert fast == reference


@settings(max_examples=examples(300), deadline=None)
@given(st.sampled_from(REFERENCE.entities), st.data())
def test_any_shape_projects_identically(entity, data):
    """Schema-invalid shapes too: wrong types, missing keys, containers where scalars go."""
    rng = random.Random(data.draw(st.integers(0, 1000)))
    manifest, memory = make_project(1, rng, sessions=3)
    doc = manifest if entity.document == "manifest" else memory
    # replace one value somewhere along the entity's paths with an arbitrary JSON value
    target = data.draw(
        st.sampled_from(["narrative", "domain", "trajectory", "status", "budget", "metadata"])
    )
    if target in doc:
        if isinstance(doc[target], list) and doc[target] and data.draw(st.booleans()):
            i = data.draw(st.integers(0, len(doc[target]) - 1))
            doc[target][i] = data.draw(json_values)
        elif isinstance(doc[target], dict) and doc[target]:
            key = data.draw(st.sampled_from(sorted(doc[target])))
            doc[target][key] = data.draw(json_values)
        else:
            doc[target] = data.draw(json_values)
    fast, reference = both(entity, doc)
    assert fast == reference


# --- whole-list fast paths, and the projector whose rows come out already stored ---

_CHILD = {"document": "memory", "parent": "missions", "link_column": "mission_id"}
EXTRA_ENTITIES = (
    # keyed by position, one member as its column (no tuple from one itemgetter)
    Entity("one_member", key_column="position", key_path=POSITION, rows_from="narrative",
           fields=(Field("summary", path="summary"),), **_CHILD),
    # keyed by position, with a position column among the members (the row-by-row way)
    Entity("with_position", key_column="position", key_path=POSITION, rows_from="narrative",
           fields=(Field("at", path=POSITION, type="integer"), Field("date", path="date")),
           **_CHILD),
    # a list keyed by its elements, not set-like, two position columns
    Entity("two_positions", key_column="concept", key_path=ELEMENT, rows_from="domain.concepts",
           fields=(Field("a", path=POSITION, type="integer"),
                   Field("b", path=POSITION, type="integer")), **_CHILD),
    # set-like, no columns at all
    Entity("bare_set", key_column="concern", key_path=ELEMENT, rows_from="domain.concerns",
           set_like=True, fields=(), **_CHILD),
    # the element itself as a column too
    Entity("element_column", key_column="concept", key_path=ELEMENT,
           rows_from="domain.concepts", set_like=True,
           fields=(Field("copy", path=ELEMENT),), **_CHILD),
    SESSION_NARRATIVE.keyed_by_legacy(),
)  # fmt: skip
ENTITIES = (*REFERENCE.entities, *EXTRA_ENTITIES)


def agree(entity: Entity, doc: dict[str, Any]) -> None:
    """compile_projector + stored == compile_stored_projector == iter_rows, on one document."""
    fields = entity.compared_fields
    fast = [(k, stored(v)) for k, v in compile_projector(entity, fields)(doc)]
    assert compile_stored_projector(entity, fields)(doc) == fast
    assert fast == list(iter_rows(entity, doc, fields))


@pytest.fixture(scope="module")
def grown(tmp_path_factory: pytest.TempPathFactory) -> list[dict[str, Any]]:
    """Memories the reference writes: a short one, and one past its 50-entry trim."""
    return grown_memories(tmp_path_factory.mktemp("grown"), (5, 60), seed=3)


def _rows(edit: Any) -> Any:
    return lambda d: edit(d["narrative"])


def _concepts(edit: Any) -> Any:
    return lambda d: edit(d["domain"]["concepts"])


EDITS = {
    "as grown": lambda d: None,
    "a row without a member": _rows(lambda r: r[-1].pop("summary")),
    "a row with a member more": _rows(lambda r: r[0].__setitem__("x", 1)),
    "a row a list": _rows(lambda r: r.__setitem__(0, ["summary"])),
    "a row None": _rows(lambda r: r.append(None)),
    "a row a string": _rows(lambda r: r.append("summary")),
    "a row empty": _rows(lambda r: r.append({})),
    "a row a dict subclass": _rows(lambda r: r.__setitem__(0, OrderedDict(r[0]))),
    "a member a list": _rows(lambda r: r[0].__setitem__("summary", ["a", 1])),
    "a member an object": _rows(lambda r: r[-1].__setitem__("phase", {"b": 2, "a": 1})),
    "a member null": _rows(lambda r: r[0].__setitem__("date", None)),
    "no rows": _rows(lambda r: r.clear()),
    "rows an object": lambda d: d.__setitem__("narrative", {"0": {}}),
    "duplicate concepts": _concepts(lambda c: c.extend(c[:2] or ["x", "x"])),
    "a concept a number": _concepts(lambda c: c.append(1)),
    "a concept True and 1": _concepts(lambda c: c.extend([True, 1])),
    "a concept None": _concepts(lambda c: c.insert(0, None)),
    "a concept a list": _concepts(lambda c: c.append(["x"])),
    "a concept an object": _concepts(lambda c: c.append({"x": 1})),
    "a concept a str subclass": _concepts(lambda c: c.append(StrSubclass("s"))),
    "no concepts": _concepts(lambda c: c.clear()),
    "concepts a string": lambda d: d["domain"].__setitem__("concepts", "abc"),
    "the domain type a list (a text column)": lambda d: d["domain"].__setitem__("type", []),
    "the focus an object": lambda d: d["trajectory"].__setitem__("current_focus", {"a": [1]}),
}


@pytest.mark.parametrize("edit", EDITS.values(), ids=EDITS.keys())
@pytest.mark.parametrize("entity", ENTITIES, ids=lambda e: e.table)
def test_grown_memories_project_identically_when_edited(
    grown: list[dict[str, Any]], entity: Entity, edit: Any
) -> None:
    for memory in grown:
        doc = copy.deepcopy(memory)
        edit(doc)
        agree(entity, doc)


@settings(max_examples=examples(300), deadline=None)
@given(
    entity=st.sampled_from(ENTITIES),
    which=st.integers(0, 1),
    edits=st.lists(
        st.tuples(
            st.sampled_from(["narrative", "concepts", "concerns"]),
            st.integers(0, 100),
            st.sampled_from(["summary", "date", "session", "x", None]),
            json_values,
        ),
        min_size=1,
        max_size=4,
    ),
)
def test_grown_memories_edited_anywhere_project_identically(
    grown: list[dict[str, Any]],
    entity: Entity,
    which: int,
    edits: list[tuple[str, int, str | None, Any]],
) -> None:
    """A member (or a whole element) of any list replaced by any JSON value."""
    doc = copy.deepcopy(grown[which])
    for table, at, member, value in edits:
        rows = doc[table] if table == "narrative" else doc["domain"][table]
        if not rows:
            rows.append(value)
        elif member is None or not isinstance(rows[at % len(rows)], dict):
            rows[at % len(rows)] = value
        else:
            rows[at % len(rows)][member] = value
    agree(entity, doc)


@pytest.mark.parametrize("entity", ENTITIES, ids=lambda e: e.table)
def test_the_stored_projector_agrees_on_generated_projects(entity: Entity) -> None:
    rng = random.Random(9)
    for i in range(20):
        manifest, memory = make_project(i, rng)
        agree(entity, manifest if entity.document == "manifest" else memory)
