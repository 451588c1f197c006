"""The quick check says yes only to valid documents (jsonschema is the judge), and says it
to the documents the reference system really writes, so that it is used at all."""

from __future__ import annotations

import copy
import random
from pathlib import Path
from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from jsonschema import Draft202012Validator

from shadow_audit.quickcheck import compile_quick
from shadow_audit.validation import (
    is_rfc3339_datetime,
    is_valid,
    load_schema,
    validate_document,
)
from tests.reference_growth import write_reference_store

JSON = st.recursive(
    st.none() | st.booleans() | st.integers(-3, 3) | st.floats(-2, 2) | st.text(max_size=3),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner),
    max_leaves=6,
)


def reference_memories(tmp_path: Path) -> list[dict[str, Any]]:
    units = write_reference_store(tmp_path / "src", [1, 7, 50, 60], seed=3)
    return [memory for _, memory in units.values() if memory is not None]


def test_the_reference_memories_get_a_quick_yes(tmp_path):
    quick = compile_quick(load_schema("memory"))
    assert quick is not None
    memories = reference_memories(tmp_path)
    assert memories and all(quick(m) for m in memories)
    assert all(validate_document(m, "memory") == [] for m in memories)


def _paths(doc: Any, at: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Every place in a document: object members and list elements."""
    found = [at]
    if isinstance(doc, dict):
        for k, v in doc.items():
            found += _paths(v, (*at, k))
    elif isinstance(doc, list):
        for i, v in enumerate(doc):
            found += _paths(v, (*at, i))
    return found


def _mutate(doc: Any, path: tuple[Any, ...], how: str, value: Any) -> Any:
    if not path:
        return value
    parent = doc
    for part in path[:-1]:
        parent = parent[part]
    last = path[-1]
    if how == "delete" and isinstance(parent, dict):
        del parent[last]
    elif how == "add" and isinstance(parent, dict):
        parent[f"{last}_x"] = value
    elif how == "append" and isinstance(parent, list):
        parent.append(value)
    else:
        parent[last] = value
    return doc


_MEMORIES: list[dict[str, Any]] = []


@settings(max_examples=400, deadline=None)
@given(
    pick=st.integers(0, 10_000),
    where=st.integers(0, 10_000),
    how=st.sampled_from(["replace", "delete", "add", "append"]),
    value=JSON | st.sampled_from([1.0, True, False, -1, 2, "", "high", 0.5, 1.5]),
)
def test_a_quick_yes_is_never_given_to_an_invalid_memory(tmp_path_factory, pick, where, how, value):
    """Law: quick(doc) implies jsonschema finds no error, for mutated reference memories."""
    if not _MEMORIES:
        _MEMORIES.extend(reference_memories(tmp_path_factory.mktemp("ref")))
    doc = copy.deepcopy(_MEMORIES[pick % len(_MEMORIES)])
    paths = _paths(doc)
    doc = _mutate(doc, paths[where % len(paths)], how, value)
    quick = compile_quick(load_schema("memory"))
    assert quick is not None
    if quick(doc):
        assert validate_document(doc, "memory") == []
    assert is_valid(doc, "memory") == (validate_document(doc, "memory") == [])


SCHEMAS = st.fixed_dictionaries(
    {"type": st.sampled_from(["integer", "number", "string", "boolean", "null", "array"])},
    optional={
        "minimum": st.integers(-2, 2),
        "maximum": st.integers(-2, 2),
        "minLength": st.integers(0, 2),
        "maxLength": st.integers(0, 2),
        "items": st.just({"type": "integer", "minimum": 0}),
    },
)


@settings(max_examples=400, deadline=None)
@given(
    leaf=SCHEMAS,
    required=st.booleans(),
    closed=st.booleans(),
    value=JSON | st.sampled_from([1.0, True, -1, 2, "ab", [1, -1], [1.0]]),
    wrap=st.booleans(),
)
def test_a_quick_yes_is_never_given_against_small_schemas(leaf, required, closed, value, wrap):
    """Law, over generated schemas of the keywords it handles and generated values."""
    schema: dict[str, Any] = {
        "type": "object",
        "properties": {"a": leaf},
        "additionalProperties": not closed,
    }
    if required:
        schema["required"] = ["a"]
    doc = {"a": value} if wrap else value
    quick = compile_quick(schema)
    assert quick is not None
    if quick(doc):
        assert list(Draft202012Validator(schema).iter_errors(doc)) == []


@pytest.mark.parametrize(
    ("schema", "value", "yes"),
    [
        ({"type": "integer"}, 1.0, False),  # an integer to JSON Schema, a doubt here
        ({"type": "integer"}, 1, True),
        ({"type": "number", "minimum": 0}, float("nan"), False),
        ({"type": ["string", "number"], "minLength": 1, "maximum": 1}, 0.5, True),
        ({"type": ["string", "number"], "minLength": 1, "maximum": 1}, "", False),
        ({"type": ["string", "number"], "minLength": 1, "maximum": 1}, 2, False),
    ],
)
def test_a_doubt_is_a_no_and_the_full_check_decides(schema, value, yes):
    quick = compile_quick(schema)
    assert quick is not None
    assert quick(value) is yes
    assert quick(True) is False  # a boolean is no number


@pytest.mark.parametrize(
    "schema",
    [
        {"type": "string", "format": "email"},  # a format it was not given
        {"$ref": "#/$defs/x"},  # names nothing
        {"$ref": "#/$defs/x", "$defs": {"x": {"type": "array", "items": {"$ref": "#/$defs/x"}}}},
        {"$ref": "https://example.com/s.json"},
        {"properties": {"a": {"type": "string"}}},  # typeless: its rules bind by type
        {"type": "object", "properties": {"a": {"enum": [1]}}},
        {"type": "string", "not": {"type": "string"}},
        {"type": "string", "pattern": "("},
        {"type": "integer", "minimum": "0"},
    ],
)
def test_a_schema_with_keywords_it_does_not_handle_gets_no_quick_check(schema):
    assert compile_quick(schema) is None


def quick_manifest() -> Any:
    quick = compile_quick(load_schema("manifest"), formats={"date-time": is_rfc3339_datetime})
    assert quick is not None
    return quick


def test_valid_manifests_get_a_quick_yes(tmp_path, project):
    units = write_reference_store(tmp_path / "src", [1, 2], seed=3)
    manifests = [m for m, _ in units.values()] + [project(i)[0] for i in range(10)]
    quick = quick_manifest()
    assert all(validate_document(m, "manifest") == [] for m in manifests)
    assert all(quick(m) for m in manifests)


def test_the_real_fixtures_never_get_a_quick_yes_they_do_not_deserve(vibe_fixtures):
    quick = quick_manifest()
    checked = 0
    for path in sorted(vibe_fixtures.glob("*manifest.json")):
        doc = orjson.loads(path.read_bytes())
        if quick(doc):
            assert validate_document(doc, "manifest") == [], path
        checked += 1
    assert checked


_MANIFESTS: list[dict[str, Any]] = []
AWKWARD = st.sampled_from(
    [
        "..",
        "a..b",
        ".hidden",
        "ok-id",
        "x" * 129,
        "",
        "2026-01-01T00:00:00",
        "2026-01-01T00:00:00Z",
        "2026-13-01T00:00:00Z",
        "abc1234",
        "ABC1234",
        "abc123",
        "v1.0",
        "v1",
        "agency.os/v1alpha1",
        "agency.os/v1\n",
        "Project",
        "PLANNING",
        "DONE",
        "planned",
        0,
        1,
        -1,
        0.5,
        1.5,
        None,
        {},
        [],
        {"path": "p"},
        {"v2.0": {"status": "planned"}},
        {"v2": {"status": "planned"}},
    ]
)


@settings(max_examples=500, deadline=None)
@given(
    pick=st.integers(0, 10_000),
    where=st.integers(0, 10_000),
    how=st.sampled_from(["replace", "delete", "add", "append"]),
    value=JSON | AWKWARD,
)
def test_a_quick_yes_is_never_given_to_an_invalid_manifest(
    tmp_path_factory, pick, where, how, value
):
    """Law: quick(doc) implies jsonschema finds no error, for mutated manifests (patterns,
    formats, enums, consts, $refs, propertyNames, additionalProperties schemas)."""
    if not _MANIFESTS:
        units = write_reference_store(tmp_path_factory.mktemp("ref"), [1, 1, 1], seed=4)
        _MANIFESTS.extend(m for m, _ in units.values())
        _MANIFESTS[0]["budget"] = {
            "max_cost_usd": 10, "current_cost_usd": 1.5, "alert_threshold": 0.8,
            "cost_breakdown": {"llm": 1.5},
        }  # fmt: skip
        _MANIFESTS[1]["roadmap"] = {"v1.0": {"status": "planned", "features": ["a"]}}
        _MANIFESTS[2]["artifacts"]["code"] = {
            "mainRepository": {"url": "u", "branch": "main", "lastCommit": "abcdef1"},
            "api": {"path": "src/api", "ref": "abcdef1", "sprint_count": 2},
        }
    doc = copy.deepcopy(_MANIFESTS[pick % len(_MANIFESTS)])
    assert validate_document(doc, "manifest") == []
    paths = _paths(doc)
    doc = _mutate(doc, paths[where % len(paths)], how, value)
    if quick_manifest()(doc):
        assert validate_document(doc, "manifest") == []
    assert is_valid(doc, "manifest") == (validate_document(doc, "manifest") == [])


def test_a_schema_nested_too_deeply_for_python_gets_no_quick_check():
    schema: dict[str, Any] = {"type": "string"}
    for _ in range(200):
        schema = {"type": "array", "items": schema}
    assert compile_quick(schema) is None


def test_a_property_name_is_data_never_code():
    name = "x'] or __import__('os').system('false') or v0['"
    quick = compile_quick(
        {"type": "object", "required": [name], "properties": {name: {"type": "string"}}}
    )
    assert quick is not None
    assert quick({name: "ok"}) and not quick({name: 1})


def test_a_huge_valid_memory_gets_a_quick_yes_and_an_invalid_one_a_no(tmp_path):
    rng = random.Random(2)
    memory = reference_memories(tmp_path)[-1]
    memory["intent_history"] = [
        {"session": rng.randrange(60), "intent": "x", "confidence": rng.choice(["high", 0.5])}
        for _ in range(1000)
    ]
    quick = compile_quick(load_schema("memory"))
    assert quick is not None and quick(memory)
    memory["intent_history"][500]["confidence"] = 2
    assert not quick(memory)
    assert not is_valid(orjson.loads(orjson.dumps(memory)), "memory")


def test_refs_made_absolute_against_the_schema_id_still_get_a_quick_check():
    """fastjsonschema rewrites a schema's $refs against its $id; such a schema (or one
    written that way) is still checked quickly."""
    schema = copy.deepcopy(load_schema("manifest"))
    base = schema["$id"]
    schema["properties"]["metadata"]["properties"]["projectId"]["$ref"] = f"{base}#/$defs/safeKey"
    quick = compile_quick(schema, formats={"date-time": is_rfc3339_datetime})
    assert quick is not None
    is_valid(None, "manifest")  # compiles fastjsonschema: the cached schema stays as read
    assert compile_quick(load_schema("manifest"), formats={"date-time": is_rfc3339_datetime})


def _valid_manifest(project: Any) -> dict[str, Any]:
    manifest = project(0)[0]
    manifest["budget"] = {"max_cost_usd": 10, "current_cost_usd": 1.5, "alert_threshold": 0.8}
    manifest["roadmap"] = {"v1.0": {"status": "planned"}}
    manifest["artifacts"]["code"] = {"api": {"path": "src/api", "ref": "abcdef1"}}
    assert validate_document(manifest, "manifest") == []
    return manifest


@pytest.mark.parametrize(
    ("where", "value"),
    [
        (("metadata", "projectId"), "a..b"),  # not: {pattern: '\.\.'}
        (("metadata", "projectId"), ".hidden"),  # pattern
        (("metadata", "projectId"), "x" * 129),  # maxLength
        (("metadata", "createdAt"), "2026-01-01T00:00:00"),  # format date-time: no offset
        (("metadata", "createdAt"), "2026-02-30T00:00:00Z"),  # format: no such day
        (("apiVersion",), "agency.os/v1\n"),  # pattern ends where the value ends
        (("kind",), "Mission"),  # const
        (("status", "projectPhase"), "DONE"),  # enum
        (("status", "projectPhase"), 1),  # enum of strings, a number
        (("roadmap",), {"v2": {"status": "planned"}}),  # propertyNames
        (("roadmap",), {"v2.0": {"status": "nope"}}),  # additionalProperties schema
        (("artifacts", "code", "api"), {"path": "p", "ref": "xyz"}),  # $ref gitRef
        (("artifacts", "planning"), {"spec": {"path": 1}}),  # $ref artifactGroup
        (("budget", "alert_threshold"), 1.5),  # maximum
    ],
)
def test_each_rule_of_the_manifest_schema_says_no(project, where, value):
    manifest = _valid_manifest(project)
    quick = quick_manifest()
    assert quick(manifest)
    _mutate(manifest, where, "replace", value)
    assert validate_document(manifest, "manifest") != []
    assert not quick(manifest)
