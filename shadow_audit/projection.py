"""Fast row projection for the audit's hot path.

``compile_projector`` turns an entity and its fields into one function from a
document to its rows, doing per row only C-level dict lookups where it can.
Its output equals ``mapping.iter_rows`` (a test holds them equal); on any
document it cannot handle the fast way (unexpected shapes, unhashable keys) it
falls back to ``iter_rows`` for that document.
"""

from __future__ import annotations

from collections.abc import Callable
from collections.abc import Mapping as MappingABC
from typing import Any

from shadow_audit.mapping import (
    DERIVATIONS,
    ELEMENT,
    Entity,
    Field,
    Row,
    canonical_json,
    iter_rows,
    split_path,
)

Projector = Callable[[MappingABC[str, Any]], list[Row]]
Getter = Callable[[Any, Any], Any]
_CONTAINERS = {dict, list}


def _getter(fld: Field) -> Getter:
    """A function (row source, document) -> stored value for one field."""
    if fld.derive is not None:
        derive = DERIVATIONS[fld.derive]
        return lambda src, doc: _stored(fld, derive(doc))
    if fld.paths:
        parts = [(name, split_path(path)) for name, path in fld.paths]

        def composite(src: Any, doc: Any) -> Any:
            obj = {}
            for name, path in parts:
                value = _dig(src, path)
                if value is not _ABSENT:
                    obj[name] = value
            return canonical_json(obj)

        return composite
    if fld.path == ELEMENT:
        return lambda src, doc: _stored(fld, src)
    path = split_path(fld.path or "")
    if fld.type == "json":
        set_like = fld.set_like

        def as_json(src: Any, doc: Any) -> Any:
            value = _dig(src, path)
            return None if value is _ABSENT else canonical_json(value, set_like=set_like)

        return as_json
    if len(path) == 1:
        name = path[0]
        return lambda src, doc: src.get(name)
    return lambda src, doc: _plain(_dig(src, path))


class _Absent:
    pass


_ABSENT: Any = _Absent()


def _dig(src: Any, path: tuple[str, ...]) -> Any:
    for part in path:
        if type(src) is not dict:
            return _ABSENT
        src = src.get(part, _ABSENT)
        if src is _ABSENT:
            return _ABSENT
    return src


def _plain(value: Any) -> Any:
    return None if value is _ABSENT else value


def _stored(fld: Field, value: Any) -> Any:
    if fld.type == "json":
        return canonical_json(value, set_like=fld.set_like)
    return value


def _values_function(fields: tuple[Field, ...]) -> Callable[[Any, Any], tuple[Any, ...]]:
    """(row source, document) -> values, with each sub-object looked up once per row."""
    n = len(fields)
    if all(f.path and f.path != ELEMENT and "." not in f.path and f.type != "json" for f in fields):
        names = tuple(f.path for f in fields)
        return lambda src, doc: tuple(map(src.get, names))
    direct: list[tuple[int, str]] = []
    groups: dict[str, list[tuple[int, str]]] = {}
    other: list[tuple[int, Getter]] = []
    for i, f in enumerate(fields):
        parts = split_path(f.path) if f.path and f.path != ELEMENT else ()
        plain = f.path is not None and f.type != "json"
        if plain and len(parts) == 1:
            direct.append((i, parts[0]))
        elif plain and len(parts) == 2:
            groups.setdefault(parts[0], []).append((i, parts[1]))
        else:
            other.append((i, _getter(f)))
    grouped = list(groups.items())

    def values(src: Any, doc: Any) -> tuple[Any, ...]:
        out: list[Any] = [None] * n
        get = src.get
        for i, name in direct:
            out[i] = get(name)
        for first, members in grouped:
            sub = get(first)
            if type(sub) is dict:
                for i, name in members:
                    out[i] = sub.get(name)
        for i, getter in other:
            out[i] = getter(src, doc)
        return tuple(out)

    return values


def stored(values: tuple[Any, ...]) -> tuple[Any, ...]:
    """What the shadow stores for projected values: a container in a scalar column as JSON."""
    if _CONTAINERS.isdisjoint(map(type, values)):
        return values
    return tuple(canonical_json(v) if type(v) in _CONTAINERS else v for v in values)


def compile_projector(entity: Entity, fields: tuple[Field, ...]) -> Projector:
    """One function: document -> [(child key or None, values)], equal to ``iter_rows``
    after ``stored`` (a container in a scalar column is left raw here: checking every
    value would cost more than converting the few rows that differ)."""
    values_of = _values_function(fields)

    def slow(doc: MappingABC[str, Any]) -> list[Row]:
        return list(iter_rows(entity, doc, fields))

    if entity.rows_from is None:

        def single(doc: MappingABC[str, Any]) -> list[Row]:
            try:
                return [(None, values_of(doc, doc))]
            except AttributeError:
                return slow(doc)

        return single

    rows_path = split_path(entity.rows_from)
    key_path = entity.key_path or ELEMENT
    key_name = None if key_path == ELEMENT else key_path
    if key_name is not None and "." in key_name:
        return slow

    def many(doc: MappingABC[str, Any]) -> list[Row]:
        items = _dig(doc, rows_path)
        if type(items) is not list:
            return []
        try:
            if key_name is None:
                keys = list(dict.fromkeys(items)) if entity.set_like else list(items)
                if _CONTAINERS.intersection(map(type, keys)) or None in keys:
                    return slow(doc)
                if not fields:
                    return [(k, ()) for k in keys]
                return [(item, values_of(item, doc)) for item in keys]
            rows = [(item[key_name], values_of(item, doc)) for item in items]
            if entity.set_like:
                first: dict[Any, tuple[Any, ...]] = {}
                for k, v in rows:
                    first.setdefault(k, v)
                rows = list(first.items())
        except (TypeError, AttributeError, KeyError):
            return slow(doc)
        if _CONTAINERS.intersection(type(k) for k, _ in rows) or any(k is None for k, _ in rows):
            return slow(doc)
        return rows

    return many
