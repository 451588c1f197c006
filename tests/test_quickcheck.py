"""The closure checker (``quickcheck``) agrees with jsonschema: a yes is never wrong.

Laws: on the reference fixtures, on generated projects, and on those projects with one
value replaced by any JSON value (hypothesis), ``compile_check(schema)(doc)`` equals
jsonschema's ``is_valid``; a schema with a keyword it does not know gives None.
"""

from __future__ import annotations

import copy
import random
from pathlib import Path
from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from shadow_audit.quickcheck import compile_check
from shadow_audit.synth import make_project
from shadow_audit.validation import _quick_check, is_valid, validator_for

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
