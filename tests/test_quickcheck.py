"""The closure checker (``quickcheck``) agrees with jsonschema: a yes is never wrong.

Laws: on the reference fixtures, on generated projects, and on those projects with one
value replaced by any JSON value (hypothesis), ``compile_check(schema)(doc)`` equals
jsonschema's ``is_valid``; a schema with a keyword it does not know gives None.
"""

from __future__ import annotations

import copy
import random
from collections import OrderedDict
from pathlib import Path
from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from jsonschema import Draft202012Validator

from shadow_audit.quickcheck import compile_check
from shadow_audit.synth import make_project
from shadow_audit.validation import _quick_check, is_valid, validator_for
from tests.conftest import examples
from tests.reference_growth import StrSubclass, grown_memories

KINDS = ("manifest", "memory")
json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-3, 3)
    | st.sampled_from([0.0, 1.0, 0.5, -0.5, 1.5, 2.0])
    | st.sampled_from(["", "x", "high", "PLANNING", "proj-1", "..", "2026-01-02T03:04:05Z"])
    | st.text(max_size=4),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=3), inner, max_size=3)
    ),
    max_leaves=6,
)


def agree(doc: Any, kind: str) -> None:
    check = _quick_check(kind)
    assert check is not None
    assert check(doc) == validator_for(kind).is_valid(doc), orjson.dumps(doc)[:300]


def test_the_shipped_document_schemas_compile() -> None:
    assert _quick_check("manifest") is not None
    assert _quick_check("memory") is not None


def test_agrees_on_the_reference_fixtures(vibe_fixtures: Path) -> None:
    seen = 0
    for path in sorted(vibe_fixtures.glob("*.json")):
        kind = "memory" if path.name.endswith("memory.json") else "manifest"
        agree(orjson.loads(path.read_bytes()), kind)
        seen += 1
    assert seen


def test_agrees_on_generated_projects() -> None:
    rng = random.Random(5)
    for i in range(30):
        manifest, memory = make_project(i, rng)
        agree(manifest, "manifest")
        agree(memory, "memory")
        assert _quick_check("memory")(memory)  # type: ignore[misc]


def _places(doc: Any, at: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Every path in the document, the document itself first."""
    found = [at]
    if isinstance(doc, dict):
        for k, v in doc.items():
            found += _places(v, (*at, k))
    elif isinstance(doc, list):
        for i, v in enumerate(doc):
            found += _places(v, (*at, i))
    return found


def _replace(doc: Any, at: tuple[Any, ...], value: Any) -> Any:
    if not at:
        return value
    out = copy.deepcopy(doc)
    target = out
    for part in at[:-1]:
        target = target[part]
    target[at[-1]] = value
    return out


@settings(max_examples=300, deadline=None)
@given(
    seed=st.integers(0, 50),
    kind=st.sampled_from(KINDS),
    pick=st.integers(0, 10_000),
    value=json_values,
    extra=st.booleans(),
)
def test_agrees_with_one_value_replaced(
    seed: int, kind: str, pick: int, value: Any, extra: bool
) -> None:
    manifest, memory = make_project(seed, random.Random(seed))
    doc = manifest if kind == "manifest" else memory
    places = _places(doc)
    at = places[pick % len(places)]
    changed = _replace(doc, at, value)
    if extra and isinstance(value, dict) is False and at:
        # or a new member next to it, where the parent is an object
        parent = copy.deepcopy(doc)
        target = parent
        for part in at[:-1]:
            target = target[part]
        if isinstance(target, dict):
            target[f"new{pick % 3}"] = value
            changed = parent
    agree(changed, kind)


@pytest.mark.parametrize(
    ("kind", "edit"),
    [
        ("memory", lambda d: d["narrative"][0].__setitem__("session", -1)),
        ("memory", lambda d: d["narrative"][0].__setitem__("session", True)),
        ("memory", lambda d: d["narrative"][0].__setitem__("session", 2.0)),  # valid
        ("memory", lambda d: d["narrative"][0].pop("phase")),
        (
            "memory",
            lambda d: d.__setitem__(
                "intent_history", [{"session": 1, "intent": "x", "confidence": 1.5}]
            ),
        ),
        (
            "memory",
            lambda d: d.__setitem__(
                "intent_history", [{"session": 1, "intent": "x", "confidence": ""}]
            ),
        ),
        (
            "memory",
            lambda d: d.__setitem__(
                "intent_history", [{"session": 1, "intent": "x", "confidence": False}]
            ),
        ),
        ("memory", lambda d: d["domain"]["concepts"].append(3)),
        ("memory", lambda d: d.__setitem__("unknown", 1)),
        ("manifest", lambda d: d["metadata"].__setitem__("projectId", "a..b")),
        ("manifest", lambda d: d["metadata"].__setitem__("projectId", ".hidden")),
        ("manifest", lambda d: d["metadata"].__setitem__("projectId", "x" * 129)),
        ("manifest", lambda d: d["metadata"].__setitem__("createdAt", "2026-01-02T03:04:05")),
        ("manifest", lambda d: d["status"].__setitem__("projectPhase", "DONE")),
        ("manifest", lambda d: d.__setitem__("kind", "Other")),
        ("manifest", lambda d: d.__setitem__("apiVersion", "v1\n")),
        ("manifest", lambda d: d.__setitem__("roadmap", {"1.0": {"status": "planned"}})),
        ("manifest", lambda d: d.__setitem__("roadmap", {"v1.0": {"status": "planned"}})),  # valid
        (
            "manifest",
            lambda d: d.__setitem__(
                "budget", {"max_cost_usd": 1, "current_cost_usd": -1, "alert_threshold": 0.5}
            ),
        ),
        (
            "manifest",
            lambda d: d["artifacts"].__setitem__("code", {"x": {"path": "p", "sprint_count": 0}}),
        ),
    ],
)
def test_agrees_on_named_edits(kind: str, edit: Any) -> None:
    manifest, memory = make_project(1, random.Random(1))
    doc = manifest if kind == "manifest" else memory
    edit(doc)
    agree(doc, kind)
    assert is_valid(doc, kind) == validator_for(kind).is_valid(doc)


@pytest.mark.parametrize(
    "schema",
    [
        {"type": "object", "patternProperties": {"a": {"type": "string"}}},
        {"enum": [1, 2]},
        {"type": "string", "format": "email"},
        {"$ref": "https://example.com/other.json"},
        {"properties": {"a": {"$id": "nested"}}},
        {"anyOf": [{"type": "string"}]},
    ],
)
def test_an_unknown_keyword_gives_none(schema: dict[str, Any]) -> None:
    assert compile_check(schema) is None


def test_a_required_member_without_a_property_in_a_closed_object() -> None:
    schema = {"type": "object", "required": ["a"], "additionalProperties": False}
    check = compile_check(schema)
    assert check is not None
    assert check({"a": 1}) is False
    assert check({}) is False


def test_a_schema_referring_to_itself() -> None:
    schema = {
        "$defs": {"node": {"type": "array", "items": {"$ref": "#/$defs/node"}}},
        "$ref": "#/$defs/node",
    }
    check = compile_check(schema)
    assert check is not None
    assert check([[], [[]]]) is True
    assert check([[], [1]]) is False


# --- the column-by-column check of arrays of closed objects (narrative, intent_history) ---
# Memories grown by the reference's own code, then edited where the fast paths look: every
# case below agrees with jsonschema, and each one would not if a shortcut were wrong.


@pytest.fixture(scope="module")
def grown(tmp_path_factory: pytest.TempPathFactory) -> list[dict[str, Any]]:
    """Memories the reference writes: a short one, and one past its 50-entry trim."""
    return grown_memories(tmp_path_factory.mktemp("grown"), (4, 60), seed=11)


def _narrative(edit: Any) -> Any:
    return lambda d: edit(d["narrative"])


def _intent(edit: Any) -> Any:
    def apply(d: dict[str, Any]) -> None:
        if not d["intent_history"]:
            d["intent_history"].append({"session": 1, "intent": "x", "confidence": "high"})
        edit(d["intent_history"])

    return apply


def _swap(rows: list[dict[str, Any]]) -> None:
    """One row gains a key and another loses one: the same number of keys in all."""
    rows[0]["extra"] = 1
    rows[-1].pop("date")


def _rename(rows: list[dict[str, Any]]) -> None:
    """A row with as many keys as it should have, one of them not a member."""
    rows[-1]["when"] = rows[-1].pop("date")


ROW_EDITS = {
    "a row gains a key": _narrative(lambda r: r[0].__setitem__("extra", "x")),
    "a row loses a key": _narrative(lambda r: r[-1].pop("phase")),
    "one gains, one loses": _narrative(_swap),
    "a key renamed": _narrative(_rename),
    "session True": _narrative(lambda r: r[0].__setitem__("session", True)),
    "session 1.0": _narrative(lambda r: r[-1].__setitem__("session", 1.0)),
    "session 1.5": _narrative(lambda r: r[-1].__setitem__("session", 1.5)),
    "session -1": _narrative(lambda r: r[-1].__setitem__("session", -1)),
    "session -1.0": _narrative(lambda r: r[0].__setitem__("session", -1.0)),
    "session 2**70": _narrative(lambda r: r[0].__setitem__("session", 2**70)),
    "session NaN": _narrative(lambda r: r[0].__setitem__("session", float("nan"))),
    "session a string": _narrative(lambda r: r[0].__setitem__("session", "1")),
    "summary True": _narrative(lambda r: r[-1].__setitem__("summary", True)),
    "summary None": _narrative(lambda r: r[0].__setitem__("summary", None)),
    "summary a number": _narrative(lambda r: r[0].__setitem__("summary", 3)),
    "summary a list": _narrative(lambda r: r[0].__setitem__("summary", ["x"])),
    "summary a str subclass": _narrative(lambda r: r[0].__setitem__("summary", StrSubclass("s"))),
    "phase an empty string": _narrative(lambda r: r[0].__setitem__("phase", "")),
    "a row a list": _narrative(lambda r: r.__setitem__(0, [])),
    "a row None": _narrative(lambda r: r.__setitem__(-1, None)),
    "a row a string": _narrative(lambda r: r.append("session")),
    "a row an empty object": _narrative(lambda r: r.append({})),
    "a row a dict subclass": _narrative(lambda r: r.__setitem__(0, OrderedDict(r[0]))),
    "a bad row a dict subclass": _narrative(
        lambda r: r.__setitem__(0, OrderedDict(r[0], session=-2))
    ),
    "no rows": _narrative(lambda r: r.clear()),
    "confidence 0.5": _intent(lambda r: r[0].__setitem__("confidence", 0.5)),
    "confidence 1": _intent(lambda r: r[-1].__setitem__("confidence", 1)),
    "confidence 0": _intent(lambda r: r[0].__setitem__("confidence", 0)),
    "confidence 2": _intent(lambda r: r[0].__setitem__("confidence", 2)),
    "confidence 1.5": _intent(lambda r: r[-1].__setitem__("confidence", 1.5)),
    "confidence -0.1": _intent(lambda r: r[0].__setitem__("confidence", -0.1)),
    "confidence NaN": _intent(lambda r: r[0].__setitem__("confidence", float("nan"))),
    "confidence True": _intent(lambda r: r[0].__setitem__("confidence", True)),
    "confidence empty": _intent(lambda r: r[-1].__setitem__("confidence", "")),
    "confidence None": _intent(lambda r: r[-1].__setitem__("confidence", None)),
    "intent a number": _intent(lambda r: r[0].__setitem__("intent", 7)),
    "intent session 1.0": _intent(lambda r: r[0].__setitem__("session", 1.0)),
    "intent session False": _intent(lambda r: r[-1].__setitem__("session", False)),
    "concepts with a number": lambda d: d["domain"]["concepts"].append(1),
    "concepts with None": lambda d: d["domain"]["concepts"].insert(0, None),
    "concepts with a str subclass": lambda d: d["domain"]["concepts"].append(StrSubclass("c")),
    "blockers a dict": lambda d: d["trajectory"]["blockers"].append({}),
}


@pytest.mark.parametrize("edit", ROW_EDITS.values(), ids=ROW_EDITS.keys())
def test_agrees_on_grown_memories_edited_row_by_row(grown: list[dict[str, Any]], edit: Any) -> None:
    for memory in grown:
        doc = copy.deepcopy(memory)
        agree(doc, "memory")  # as grown: valid
        assert _quick_check("memory")(doc)  # type: ignore[misc]
        edit(doc)
        agree(doc, "memory")


def test_nan_is_within_bounds_as_jsonschema_says() -> None:
    """jsonschema fails ``x < minimum`` and ``x > maximum``; NaN makes neither true."""
    memory = make_project(1, random.Random(1))[1]
    memory["intent_history"] = [{"session": 1, "intent": "x", "confidence": float("nan")}]
    agree(memory, "memory")
    manifest = make_project(1, random.Random(1))[0]
    manifest["budget"]["alert_threshold"] = float("nan")
    agree(manifest, "manifest")


MEMBERS = ("session", "summary", "date", "phase", "intent", "confidence", "extra")
row_edits = st.lists(
    st.tuples(
        st.sampled_from(["narrative", "intent_history"]),
        st.integers(0, 1000),
        st.sampled_from(["set", "drop", "add", "replace"]),
        st.sampled_from(MEMBERS),
        json_values | st.sampled_from([True, False, 1.0, -1, 2**70, 0.5, 1.5, "", "high"]),
    ),
    min_size=1,
    max_size=4,
)


@settings(max_examples=examples(300), deadline=None)
@given(which=st.integers(0, 1), edits=row_edits)
def test_agrees_with_rows_edited_anywhere(
    grown: list[dict[str, Any]], which: int, edits: list[tuple[str, int, str, str, Any]]
) -> None:
    doc = copy.deepcopy(grown[which])
    for table, at, op, member, value in edits:
        rows = doc[table]
        if not rows:
            continue
        row = rows[at % len(rows)]
        if op == "replace":
            rows[at % len(rows)] = value
        elif not isinstance(row, dict):
            continue
        elif op == "set":
            row[member] = value
        elif op == "drop":
            row.pop(member, None)
        else:
            row[f"new_{member}"] = value
    agree(doc, "memory")


@pytest.mark.parametrize(
    ("schema", "instances"),
    [
        (  # a member that says nothing: present, whatever it holds
            {"required": ["a", "b"], "properties": {"a": True, "b": {"type": "integer"}}},
            [[], [{"a": None, "b": 1}], [{"b": 1}], [{"a": 1, "b": 1.0}], [{"a": 1, "b": 1.5}]],
        ),
        (  # a single member (no tuple from itemgetter), enum-valued
            {"required": ["a"], "properties": {"a": {"enum": ["x", "y"]}}},
            [[{"a": "x"}, {"a": "y"}], [{"a": "z"}], [{"a": 1}], [{"a": "x"}, {}]],
        ),
        (  # a member of no scalar schema: checked by its own compiled check
            {
                "required": ["a", "b"],
                "properties": {
                    "a": {"type": "array", "items": {"type": "string"}},
                    "b": {"type": ["null", "boolean"]},
                },
            },
            [[{"a": [], "b": None}], [{"a": ["x"], "b": True}], [{"a": [1], "b": None}]],
        ),
        (  # length and pattern on a whole column, a type listed second
            {
                "required": ["a", "n"],
                "properties": {
                    "a": {"type": "string", "minLength": 2, "maxLength": 3, "pattern": "^x"},
                    "n": {"type": ["string", "number"], "exclusiveMinimum": 0, "maximum": 2},
                },
            },
            [
                [{"a": "xy", "n": "s"}, {"a": "xyz", "n": 2}],
                [{"a": "xyzw", "n": 1}],
                [{"a": "x", "n": 1}],
                [{"a": "yy", "n": 1}],
                [{"a": "xx", "n": 0}, {"a": "xx", "n": 0.5}],
                [{"a": "xx", "n": 2.5}],
                [{"a": "xx", "n": False}],
            ],
        ),
    ],
)
def test_arrays_of_closed_objects_agree_on_other_schemas(
    schema: dict[str, Any], instances: list[Any]
) -> None:
    array = {
        "type": "array",
        "items": {"type": "object", "additionalProperties": False, **schema},
    }
    check = compile_check(array)
    assert check is not None
    validator = Draft202012Validator(array)
    for instance in instances:
        assert check(instance) == validator.is_valid(instance), instance
