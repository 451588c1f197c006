"""A fast "is this document valid?" built from a JSON Schema as a tree of closures.

No code is generated (the package never calls ``exec``): each schema node becomes one
Python function that checks what the node says, with the common shapes (a closed
object, a list of strings, a bare type) given a function of their own, and an array
of closed objects or of scalars checked column by column (``quickcolumns``). It
answers only yes or no; jsonschema stays the authority on the reasons (``validation``).

It knows the Draft 2020-12 keywords the shipped schemas use, with jsonschema's
meaning (a keyword for one type ignores instances of other types; ``integer``
accepts ``1.0``; ``true`` is not a number; ``pattern`` is ``re.search``).
``compile_check`` returns None for a schema using any other keyword (a configured
schema may), and the caller validates the slower way then. The law tests hold
that it agrees with jsonschema on the shipped schemas.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from shadow_audit.quickcolumns import (
    BOUNDS,
    Batch,
    Exact,
    bounds_check,
    number_batch,
    row_batch,
    scalar_batch,
    string_batch,
)

Check = Callable[[Any], bool]

# keywords that say nothing about validity
_ANNOTATIONS = frozenset(
    {"title", "description", "$comment", "examples", "default", "deprecated", "readOnly",
     "writeOnly", "$defs", "definitions", "$schema"}
)  # fmt: skip
_KNOWN = _ANNOTATIONS | {
    "type", "enum", "const", "$ref", "not",
    "minLength", "maxLength", "pattern", "format",
    "minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum",
    "properties", "required", "additionalProperties", "propertyNames",
    "items", "minItems", "maxItems",
}  # fmt: skip
# keywords of a schema that tests a scalar only: its verdict is a function of the exact type
_SCALAR = frozenset(
    {"type", "enum", "const", "minLength", "maxLength", "pattern", "format",
     "minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum"}
)  # fmt: skip


class Unsupported(Exception):
    """The schema uses a keyword (or a form of one) this checker does not know."""


def _anything(_: Any) -> bool:
    return True


def _nothing(_: Any) -> bool:
    return False


def _is_str(x: Any) -> bool:
    return isinstance(x, str)


def _is_number(x: Any) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool)


def _is_integer(x: Any) -> bool:
    if isinstance(x, bool):
        return False
    return isinstance(x, int) or (isinstance(x, float) and x.is_integer())


def _is_object(x: Any) -> bool:
    return isinstance(x, dict)


def _is_array(x: Any) -> bool:
    return isinstance(x, list)


def _is_bool(x: Any) -> bool:
    return isinstance(x, bool)


def _is_null(x: Any) -> bool:
    return x is None


_TYPES: dict[str, Check] = {
    "string": _is_str,
    "number": _is_number,
    "integer": _is_integer,
    "object": _is_object,
    "array": _is_array,
    "boolean": _is_bool,
    "null": _is_null,
}


def compile_check(
    schema: Any, *, formats: dict[str, Callable[[Any], bool]] | None = None
) -> Check | None:
    """Build the yes/no checker of a schema, or None when it uses what this does not know.

    Args:
        schema: a Draft 2020-12 schema (local ``#/...`` references only).
        formats: the format checkers by name (a format not named here is not known).

    Returns:
        A function from a parsed document to whether it is valid; None for a schema
        with an unknown keyword, format, reference or enum value.
    """
    try:
        return _Compiler(schema, formats or {}).node(schema, root=True)
    except Unsupported:
        return None


class _Compiler:
    def __init__(self, root: Any, formats: dict[str, Callable[[Any], bool]]) -> None:
        self.root = root
        self.formats = formats
        self.refs: dict[str, Check] = {}
        # a closed object's check -> the check of an array of them (``row_batch``)
        self.batches: dict[Check, Batch] = {}

    def node(self, schema: Any, *, root: bool = False) -> Check:
        if schema is True:
            return _anything
        if schema is False:
            return _nothing
        if not isinstance(schema, dict):
            raise Unsupported(repr(schema))
        unknown = schema.keys() - _KNOWN - ({"$id"} if root else set())
        if unknown:
            raise Unsupported(", ".join(sorted(unknown)))
        kind = _single_type(schema)
        typed = {
            "string": self._string(schema, strict=kind == "string"),
            "number": self._number(schema, strict=kind if kind in _NUMBERS else None),
            "object": self._object(schema, strict=kind == "object"),
            "array": self._array(schema, strict=kind == "array"),
        }
        # a single type is tested by its own keywords' check, when the node has one
        own = typed.get("number" if kind in _NUMBERS else kind or "")
        checks = [
            c
            for c in (
                self._type(schema) if own is None else None,
                self._enum(schema),
                *typed.values(),
                self._ref(schema),
                self._not(schema),
            )
            if c is not None
        ]
        return _all(checks)

    def _type(self, schema: dict[str, Any]) -> Check | None:
        if "type" not in schema:
            return None
        names = schema["type"]
        names = [names] if isinstance(names, str) else names
        if not isinstance(names, list) or any(n not in _TYPES for n in names):
            raise Unsupported(f"type {names!r}")
        if len(names) == 1:
            return _TYPES[names[0]]
        if "integer" not in names and "boolean" not in names and "null" not in names:
            # one isinstance test; a bool is an int, and is none of these
            classes = tuple(
                {"string": (str,), "number": (int, float), "object": (dict,), "array": (list,)}[n][
                    i
                ]
                for n in names
                for i in range(2 if n == "number" else 1)
            )
            return lambda x: isinstance(x, classes) and not isinstance(x, bool)
        tests = tuple(_TYPES[n] for n in names)
        return lambda x: any(t(x) for t in tests)

    def _enum(self, schema: dict[str, Any]) -> Check | None:
        allowed = _allowed(schema)
        if allowed is None:
            return None
        return lambda x: isinstance(x, str) and x in allowed

    def _string(self, schema: dict[str, Any], *, strict: bool) -> Check | None:
        low = schema.get("minLength", 0)
        high = schema.get("maxLength")
        pattern = re.compile(schema["pattern"]) if "pattern" in schema else None
        fmt = schema.get("format")
        if fmt is not None and fmt not in self.formats:
            raise Unsupported(f"format {fmt!r}")
        if not low and high is None and pattern is None and fmt is None:
            return None
        form = self.formats[fmt] if fmt is not None else None
        search = pattern.search if pattern is not None else None

        def check(x: Any) -> bool:
            if not isinstance(x, str):
                return not strict
            if low and len(x) < low:
                return False
            if high is not None and len(x) > high:
                return False
            if search is not None and search(x) is None:
                return False
            return form is None or form(x)

        return check

    def _number(self, schema: dict[str, Any], *, strict: str | None) -> Check | None:
        bounds = [schema[k] for k in BOUNDS if k in schema]
        if not bounds:
            return None
        if not all(_is_number(b) for b in bounds):
            raise Unsupported("a bound that is not a number")

        is_type = _TYPES[strict] if strict else None
        within = bounds_check(schema)

        def check(x: Any) -> bool:
            if type(x) is int:  # a number and an integer (a bool's type is bool)
                return within(x)
            if is_type is not None and not is_type(x):
                return False
            if not isinstance(x, (int, float)) or isinstance(x, bool):
                return True
            return within(x)

        return check

    def _object(self, schema: dict[str, Any], *, strict: bool) -> Check | None:
        keys = ("properties", "required", "additionalProperties", "propertyNames")
        if not any(k in schema for k in keys):
            return None
        props = {name: self.node(sub) for name, sub in schema.get("properties", {}).items()}
        required = frozenset(schema.get("required", ()))
        extra_schema = schema.get("additionalProperties", True)
        closed = extra_schema is False
        extra = None if extra_schema is True or closed else self.node(extra_schema)
        names = self.node(schema["propertyNames"]) if "propertyNames" in schema else None
        allowed = frozenset(props)
        # a property whose schema says nothing is not looked at
        looked = {name: c for name, c in props.items() if c is not _anything}
        # properties of a bare type: tested inline, not through a call
        bare = {name: _BARE[c] for name, c in looked.items() if c in _BARE}
        called = {name: c for name, c in looked.items() if name not in bare}
        if closed and not extra and names is None:
            general = self._closed(required, allowed, bare, called, strict=strict)
            if required == allowed and allowed:
                properties = schema["properties"]
                self.batches[general] = row_batch(
                    {name: (c, self._exact(properties[name])) for name, c in looked.items()},
                    allowed=allowed,
                    each=general,
                )
            return general

        def check(x: Any) -> bool:
            if not isinstance(x, dict):
                return not strict
            present = x.keys()
            if required and not required <= present:
                return False
            if closed and not present <= allowed:
                return False
            if names is not None and not all(names(k) for k in present):
                return False
            for k, v in x.items():
                t = bare.get(k)
                if t is not None:
                    if not isinstance(v, t):
                        return False
                    continue
                c = called.get(k)
                if c is None:
                    if extra is not None and k not in allowed and not extra(v):
                        return False
                elif not c(v):
                    return False
            return True

        return check

    @staticmethod
    def _closed(
        required: frozenset[str],
        allowed: frozenset[str],
        bare: dict[str, type],
        called: dict[str, Check],
        *,
        strict: bool,
    ) -> Check:
        """The common ``additionalProperties: false`` object: one lookup per member."""
        members: dict[str, tuple[type | None, Check | None]] = {
            name: (None, None) for name in allowed
        }
        members.update({name: (t, None) for name, t in bare.items()})
        members.update({name: (None, c) for name, c in called.items()})

        def check(x: Any) -> bool:
            if not isinstance(x, dict):
                return not strict
            present = x.keys()
            if not required <= present or not present <= allowed:
                return False
            for k, v in x.items():
                t, c = members[k]
                if t is not None:
                    if not isinstance(v, t):
                        return False
                elif c is not None and not c(v):
                    return False
            return True

        return check

    def _array(self, schema: dict[str, Any], *, strict: bool) -> Check | None:
        if not any(k in schema for k in ("items", "minItems", "maxItems")):
            return None
        item = self.node(schema.get("items", True))
        low = schema.get("minItems", 0)
        high = schema.get("maxItems")
        exact = self._exact(schema.get("items", True))
        every: Check
        if item is _anything:
            every = _anything
        elif item in self.batches:
            every = self.batches[item]
        elif exact:
            every = scalar_batch(exact, item)
        else:

            def every(x: list[Any]) -> bool:
                for i in x:  # noqa: SIM110 (a loop: cheaper than all() over a generator)
                    if not item(i):
                        return False
                return True

        def check(x: Any) -> bool:
            if not isinstance(x, list):
                return not strict
            if len(x) < low or (high is not None and len(x) > high):
                return False
            return every(x)

        return check

    def _exact(self, schema: Any, seen: frozenset[int] = frozenset()) -> Exact | None:
        """For a schema of scalar keywords only (or a reference to one): what is left to
        check of a value of each exact type it may accept. A type not in the answer is
        left to the compiled check (a float for ``integer``, a subclass). None for any
        other schema."""
        if not isinstance(schema, dict):
            return None
        own = schema.keys() - _ANNOTATIONS
        if own == {"$ref"}:
            target = self._target(schema["$ref"])
            return None if id(target) in seen else self._exact(target, seen | {id(target)})
        if not own <= _SCALAR:
            return None
        names = schema.get("type")
        names = [names] if isinstance(names, str) else names
        enum = _allowed(schema)
        if enum is not None:  # strings only
            names = [n for n in names or ["string"] if n == "string"]
        if not names:
            return None
        out: Exact = {}
        for name in names:
            if name == "string":
                form = self.formats[schema["format"]] if "format" in schema else None
                out[str] = string_batch(schema, enum=enum, form=form)
            elif name in _NUMBERS:
                out[int] = number_batch(schema, floats=False)
                if name == "number":
                    out[float] = number_batch(schema, floats=True)
            else:
                out[_CLASSES[name]] = None
        return out

    def _ref(self, schema: dict[str, Any]) -> Check | None:
        if "$ref" not in schema:
            return None
        ref = schema["$ref"]
        if ref in self.refs:
            return self.refs[ref]
        target = self._target(ref)
        box: list[Check] = []
        self.refs[ref] = lambda x: box[0](x)  # a reference to itself, while compiling it
        box.append(self.node(target))
        self.refs[ref] = box[0]
        return box[0]

    def _target(self, ref: Any) -> Any:
        """The schema a local ``$ref`` names."""
        if not isinstance(ref, str) or not ref.startswith("#"):
            raise Unsupported(f"$ref {ref!r}")
        target = self.root
        for part in ref[1:].split("/")[1:]:
            part = part.replace("~1", "/").replace("~0", "~")
            if not isinstance(target, dict) or part not in target:
                raise Unsupported(f"$ref {ref!r}")
            target = target[part]
        return target

    def _not(self, schema: dict[str, Any]) -> Check | None:
        if "not" not in schema:
            return None
        inner = self.node(schema["not"])
        return lambda x: not inner(x)


_NUMBERS = ("integer", "number")
# checks that are one isinstance test, and its class (exact: no bool among them)
_BARE: dict[Check, type] = {_is_str: str, _is_object: dict, _is_array: list}
_CLASSES: dict[str, type] = {"boolean": bool, "null": type(None), "object": dict, "array": list}


def _single_type(schema: dict[str, Any]) -> str | None:
    names = schema.get("type")
    if isinstance(names, list) and len(names) == 1:
        names = names[0]
    return names if isinstance(names, str) and names in _TYPES else None


def _all(checks: list[Check]) -> Check:
    if not checks:
        return _anything
    if len(checks) == 1:
        return checks[0]
    if len(checks) == 2:
        a, b = checks
        return lambda x: a(x) and b(x)
    every = tuple(checks)

    def check(x: Any) -> bool:
        for c in every:  # noqa: SIM110 (a loop: cheaper than all() over a generator)
            if not c(x):
                return False
        return True

    return check


def _allowed(schema: dict[str, Any]) -> frozenset[str] | None:
    """The strings ``enum`` and ``const`` allow together; None when neither is there."""
    if "enum" not in schema and "const" not in schema:
        return None
    values = schema["enum"] if "enum" in schema else [schema["const"]]
    if "enum" in schema and "const" in schema:
        values = [v for v in values if v == schema["const"]]
    if not isinstance(values, list) or not all(isinstance(v, str) for v in values):
        raise Unsupported("enum or const of other than strings")
    return frozenset(values)
