"""A quick yes for documents that are plainly valid: straight-line checks made from a schema.

The compiled checker (fastjsonschema) spends most of a memory document's validation on
its generic per-item code (sets of keys, repeated ``isinstance``). Backfill and audit
validate every document, so here a schema that uses only the plain keywords (types,
properties, required, closed objects, items, lengths, bounds) becomes one Python function
of exact-type tests. It answers True only when the document is certainly valid; any
doubt (a float where an integer is expected, a keyword it does not know) is False, and
the caller asks the full checkers, which stay the authority. A schema with any other
keyword gets no quick check at all.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from typing import Any

QuickCheck = Callable[[Any], bool]

_ANNOTATIONS = frozenset(
    {
        "$schema",
        "$id",
        "$comment",
        "$defs",
        "definitions",
        "title",
        "description",
        "default",
        "examples",
        "deprecated",
    }
)
_KEYWORDS = frozenset(
    {
        "type",
        "properties",
        "required",
        "additionalProperties",
        "items",
        "minLength",
        "maxLength",
        "minimum",
        "maximum",
        "enum",
        "const",
        "pattern",
        "format",
        "not",
        "propertyNames",
    }
)
_REF_PREFIXES = ("#/$defs/", "#/definitions/")
# JSON Schema type -> the exact Python types accepted without doubt (bool is no number)
_TYPES = {
    "string": ("_str",),
    "integer": ("_int",),
    "number": ("_int", "_float"),
    "boolean": ("_bool",),
    "null": ("_none",),
    "object": ("_dict",),
    "array": ("_list",),
}
# bound as default arguments of the check: local lookups, not global ones
_BUILTINS = {
    "_type": type,
    "_len": len,
    "_str": str,
    "_int": int,
    "_float": float,
    "_bool": bool,
    "_none": type(None),
    "_dict": dict,
    "_list": list,
}


class _Unsupported(Exception):
    """The schema uses something the quick check does not decide."""


def compile_quick(
    schema: Any, *, formats: dict[str, Callable[[Any], bool]] | None = None
) -> QuickCheck | None:
    """Return a function that says True only for documents valid under ``schema``.

    Besides the plain keywords it takes string ``enum``/``const``, ``pattern`` (searched,
    as jsonschema does), the ``format`` checks given, ``not`` of a lone pattern,
    ``propertyNames`` of a pattern, ``additionalProperties`` as a schema, and local
    ``$ref`` s (``#/$defs/...``, also made absolute against the root's ``$id``) that do
    not recurse.

    Args:
        schema: a JSON Schema (a trusted, shipped or configured one; never document data).
        formats: format name -> the check the full validators use for it.

    Returns:
        The check, or None when the schema uses a keyword it does not handle (then every
        document goes to the full checkers).
    """
    out = _Writer(schema, formats or {})
    try:
        out.check(schema, "v0", depth=1)
        names = [*_BUILTINS, *(f"k{i}" for i in range(len(out.constants)))]
        head = f"def quick(v0, {', '.join(f'{n}={n}' for n in names)}):"
        code = compile("\n".join([head, *out.lines, "    return True"]), "<quickcheck>", "exec")
    except (_Unsupported, RecursionError, SyntaxError):  # SyntaxError: nested too deeply
        return None
    namespace: dict[str, Any] = dict(_BUILTINS)
    namespace.update((f"k{i}", value) for i, value in enumerate(out.constants))
    exec(code, namespace)  # noqa: S102
    check: QuickCheck = namespace["quick"]
    return check


class _Writer:
    """Writes the check's source: one ``if <bad>: return False`` per rule."""

    def __init__(self, root: Any, formats: dict[str, Callable[[Any], bool]]) -> None:
        self.root = root
        self.formats = formats
        self.refs: list[str] = []  # the $refs being expanded (a recursive one: unsupported)
        self.lines: list[str] = []
        self.constants: list[Any] = []
        self.names = 0

    def line(self, text: str) -> None:
        self.lines.append(text)

    def constant(self, value: Any) -> str:
        self.constants.append(value)
        return f"k{len(self.constants) - 1}"

    def fresh(self) -> str:
        self.names += 1
        return f"v{self.names}"

    def fail_if(self, condition: str, depth: int) -> None:
        self.line(f"{'    ' * depth}if {condition}: return False")

    def check(self, schema: Any, var: str, depth: int) -> None:
        """Lines that return False unless ``var`` certainly satisfies ``schema``."""
        if schema is True or schema == {}:
            return
        if not isinstance(schema, dict):
            raise _Unsupported
        if "$ref" in schema:
            self._ref(schema, var, depth)
            return
        if (set(schema) - _ANNOTATIONS) - _KEYWORDS:
            raise _Unsupported
        kinds = schema.get("type")
        if kinds is None and _strings_only(schema):
            kinds = "string"  # a string enum or const: nothing else can match it
        if kinds is None:
            raise _Unsupported  # a typeless subschema: its rules apply by type; leave it
        kinds = [kinds] if isinstance(kinds, str) else kinds
        if not isinstance(kinds, list) or not kinds or any(k not in _TYPES for k in kinds):
            raise _Unsupported
        pytypes = sorted({t for k in kinds for t in _TYPES[k]})
        if len(pytypes) == 1:
            self.fail_if(f"_type({var}) is not {pytypes[0]}", depth)
        else:
            self.fail_if(f"_type({var}) not in ({', '.join(pytypes)})", depth)
        self._bounds(schema, var, pytypes, depth)
        self._strings(schema, var, pytypes, depth)
        if "_dict" in pytypes:  # object rules bind only objects: elsewhere nothing to check
            self._object(schema, var, only=len(pytypes) == 1, depth=depth)
        if "_list" in pytypes:
            self._array(schema, var, only=len(pytypes) == 1, depth=depth)

    def _ref(self, schema: dict[str, Any], var: str, depth: int) -> None:
        """A local, non-recursive ``$ref`` alone: the schema it names, checked in place."""
        ref = schema["$ref"]
        if (set(schema) - _ANNOTATIONS) != {"$ref"} or not isinstance(ref, str):
            raise _Unsupported
        base = self.root.get("$id") if isinstance(self.root, dict) else None
        if isinstance(base, str) and ref.startswith(base + "#"):
            ref = ref[len(base) :]  # made absolute against the root's own $id
        prefix = next((p for p in _REF_PREFIXES if ref.startswith(p)), None)
        name = ref[len(prefix) :] if prefix else ""
        defs = self.root.get(prefix[2:-1]) if prefix and isinstance(self.root, dict) else None
        if not isinstance(defs, dict) or name not in defs or "/" in name or "~" in name:
            raise _Unsupported
        if ref in self.refs:
            raise _Unsupported  # a recursive schema: left to the full checkers
        self.refs.append(ref)
        self.check(defs[name], var, depth)
        self.refs.pop()

    def _strings(self, schema: dict[str, Any], var: str, pytypes: list[str], depth: int) -> None:
        """enum, const, pattern, format and not-pattern: rules for strings."""
        if not any(k in schema for k in ("enum", "const", "pattern", "format", "not")):
            return
        if "enum" in schema or "const" in schema:
            if not _strings_only(schema) or pytypes != ["_str"]:
                raise _Unsupported  # other values compare by JSON equality: leave them
            allowed = schema["enum"] if "enum" in schema else [schema["const"]]
            self.fail_if(f"{var} not in {self.constant(frozenset(allowed))}", depth)
        guard = "" if pytypes == ["_str"] else f"_type({var}) is _str and "
        if "pattern" in schema:
            found = self.constant(_regex(schema["pattern"]).search)
            self.fail_if(f"{guard}not {found}({var})", depth)
        if "format" in schema:
            check = self.formats.get(schema["format"])
            if check is None:
                raise _Unsupported
            self.fail_if(f"{guard}not {self.constant(check)}({var})", depth)
        if "not" in schema:
            inner = schema["not"]
            if not isinstance(inner, dict) or (set(inner) - _ANNOTATIONS) != {"pattern"}:
                raise _Unsupported
            # {"pattern": p} holds for every non-string: its negation for none of them
            found = self.constant(_regex(inner["pattern"]).search)
            self.fail_if(f"_type({var}) is not _str or {found}({var})", depth)

    def _bounds(self, schema: dict[str, Any], var: str, pytypes: list[str], depth: int) -> None:
        """Lengths bind strings, bounds bind numbers; a guard where the value may be another
        type. A NaN or a comparison not plainly true is a doubt: False."""
        for word, holds in (("minLength", ">="), ("maxLength", "<=")):
            if word in schema:
                n = schema[word]
                if type(n) is not int or n < 0:
                    raise _Unsupported
                if "_str" in pytypes:
                    guard = "" if pytypes == ["_str"] else f"_type({var}) is _str and "
                    self.fail_if(f"{guard}not (_len({var}) {holds} {n})", depth)
        numeric = [t for t in pytypes if t in ("_int", "_float")]
        for word, holds in (("minimum", ">="), ("maximum", "<=")):
            if word in schema:
                bound = schema[word]
                if type(bound) not in (int, float) or not math.isfinite(bound):
                    raise _Unsupported
                if numeric:
                    of = ", ".join(numeric)
                    guard = "" if pytypes == numeric else f"_type({var}) in ({of},) and "
                    self.fail_if(f"{guard}not ({var} {holds} {self.constant(bound)})", depth)

    def _object(self, schema: dict[str, Any], var: str, *, only: bool, depth: int) -> None:
        props = schema.get("properties", {})
        required = schema.get("required", [])
        closed = schema.get("additionalProperties", True)
        if not isinstance(props, dict) or not isinstance(required, list):
            raise _Unsupported
        if not all(isinstance(r, str) for r in required):
            raise _Unsupported
        if closed is not True and closed is not False and not isinstance(closed, dict):
            raise _Unsupported
        if not only:  # the rules below only for a dict
            self.line(f"{'    ' * depth}if _type({var}) is _dict:")
            depth += 1
        if closed is False and set(required) == set(props):  # exactly these members
            self.fail_if(f"{var}.keys() != {self.constant(frozenset(props))}", depth)
        else:
            if required:
                self.fail_if(f"not ({var}.keys() >= {self.constant(frozenset(required))})", depth)
            if closed is False:
                self.fail_if(f"not ({var}.keys() <= {self.constant(frozenset(props))})", depth)
        names = schema.get("propertyNames")
        if names is not None:
            if not isinstance(names, dict) or (set(names) - _ANNOTATIONS) - {"pattern", "type"}:
                raise _Unsupported
            if names.get("type", "string") != "string" or "pattern" not in names:
                raise _Unsupported
            found, member = self.constant(_regex(names["pattern"]).search), self.fresh()
            self.line(f"{'    ' * depth}for {member} in {var}:")
            self.fail_if(f"not {found}({member})", depth + 1)
        if isinstance(closed, dict):  # members the properties do not name: this schema
            known, member, value = self.constant(frozenset(props)), self.fresh(), self.fresh()
            self.line(f"{'    ' * depth}for {member}, {value} in {var}.items():")
            self.line(f"{'    ' * (depth + 1)}if {member} not in {known}:")
            self.check(closed, value, depth + 2)
            self.line(f"{'    ' * (depth + 1)}pass")
        for name, sub in props.items():
            if sub is True or sub == {}:
                continue
            inner = self.fresh()
            if name in required:
                self.line(f"{'    ' * depth}{inner} = {var}[{name!r}]")
                self.check(sub, inner, depth)
            else:
                self.line(f"{'    ' * depth}if {name!r} in {var}:")
                self.line(f"{'    ' * (depth + 1)}{inner} = {var}[{name!r}]")
                self.check(sub, inner, depth + 1)
        if not only:
            self.line(f"{'    ' * depth}pass")

    def _array(self, schema: dict[str, Any], var: str, *, only: bool, depth: int) -> None:
        items = schema.get("items", True)
        if items is True or items == {}:
            return
        if not isinstance(items, dict):
            raise _Unsupported
        if not only:
            self.line(f"{'    ' * depth}if _type({var}) is _list:")
            depth += 1
        item = self.fresh()
        self.line(f"{'    ' * depth}for {item} in {var}:")
        self.check(items, item, depth + 1)
        if not only:
            self.line(f"{'    ' * depth}pass")


def _strings_only(schema: dict[str, Any]) -> bool:
    """A schema whose ``enum``/``const`` allows strings only (and has one of them)."""
    values = schema["enum"] if "enum" in schema else [schema["const"]] if "const" in schema else []
    return bool(values) and isinstance(values, list) and all(type(v) is str for v in values)


def _regex(pattern: Any) -> re.Pattern[str]:
    """The compiled pattern (Python's ``re``, searched, as jsonschema does)."""
    if not isinstance(pattern, str):
        raise _Unsupported
    try:
        return re.compile(pattern)
    except re.error as exc:
        raise _Unsupported from exc
