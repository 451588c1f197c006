"""Hypothesis strategies generated from our JSON Schemas (the subset they use).

hypothesis-jsonschema does not work with this hypothesis release, so this small
translator covers what schemas/*.json use: type, properties/required,
additionalProperties, propertyNames, enum, const, pattern, min/maxLength,
minimum/maximum, items, $ref, not-pattern and the date-time format.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any

from hypothesis import strategies as st

JSON_SCALARS = st.one_of(
    st.none(), st.booleans(), st.integers(-(2**63), 2**63 - 1),
    st.floats(allow_nan=False, allow_infinity=False), st.text(max_size=10),
)  # fmt: skip
ANY_JSON = st.recursive(
    JSON_SCALARS,
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=6,
)
DATE_TIMES = st.builds(
    lambda s, us, off, z: (datetime(2020, 1, 1, tzinfo=UTC) + timedelta(seconds=s, microseconds=us))
    .isoformat(timespec="microseconds" if us else "seconds")
    .replace("+00:00", "Z" if z else off),
    st.integers(0, 10**9), st.sampled_from([0, 0, 500_000, 123]), st.sampled_from(["+00:00", "+02:00"]), st.booleans(),
)  # fmt: skip


def strategy(schema: dict[str, Any], root: dict[str, Any] | None = None) -> st.SearchStrategy[Any]:
    root = root or schema
    if "$ref" in schema:
        target: Any = root
        for part in schema["$ref"].lstrip("#/").split("/"):
            target = target[part]
        return strategy(target, root)
    if "const" in schema:
        return st.just(schema["const"])
    if "enum" in schema:
        return st.sampled_from(schema["enum"])
    kind = schema.get("type")
    if kind == "string":
        return _string(schema)
    if kind == "integer":
        return st.integers(schema.get("minimum", -(2**31)), schema.get("maximum", 2**31))
    if kind == "number":
        return st.floats(schema.get("minimum", -1e9), schema.get("maximum", 1e9), allow_nan=False)
    if kind == "boolean":
        return st.booleans()
    if kind == "array":
        return st.lists(strategy(schema.get("items", {}), root), max_size=4)
    if kind == "object" or "properties" in schema:
        return _object(schema, root)
    return ANY_JSON


def _string(schema: dict[str, Any]) -> st.SearchStrategy[str]:
    if schema.get("format") == "date-time":
        return DATE_TIMES
    lo, hi = schema.get("minLength", 0), schema.get("maxLength", 30)
    base = (
        st.from_regex(schema["pattern"], fullmatch=True)
        if "pattern" in schema
        else st.text(min_size=lo, max_size=hi)
    )
    base = base.filter(lambda s: lo <= len(s) <= hi)
    forbidden = schema.get("not", {}).get("pattern")
    if forbidden:
        base = base.filter(lambda s: not re.search(forbidden, s))
    return base


def _object(schema: dict[str, Any], root: dict[str, Any]) -> st.SearchStrategy[dict[str, Any]]:
    props = schema.get("properties", {})
    required = set(schema.get("required", []))
    fixed = st.fixed_dictionaries(
        {k: strategy(v, root) for k, v in props.items() if k in required},
        optional={k: strategy(v, root) for k, v in props.items() if k not in required},
    )
    extra = schema.get("additionalProperties", True)
    if extra is False:
        return fixed
    names = (
        st.from_regex(schema["propertyNames"]["pattern"], fullmatch=True)
        if "propertyNames" in schema
        else st.text(min_size=1, max_size=8)
    ).filter(lambda k: k not in props)
    values = strategy(extra, root) if isinstance(extra, dict) else ANY_JSON
    return st.tuples(fixed, st.dictionaries(names, values, max_size=2)).map(
        lambda t: {**t[1], **t[0]}
    )
