"""Documents to rows: the reference projector, and the compiled one for the hot path.

``iter_rows`` is the reference; ``compile_projector`` turns an entity and its
fields into one function from a document to its rows, doing per row only
C-level dict lookups where it can (the common lists a whole list at a time). Its
output equals ``iter_rows`` (a test holds them equal); on any document it cannot
handle the fast way (unexpected shapes, unhashable keys) it falls back to
``iter_rows`` for that document. ``compile_stored_projector`` gives the same rows
already as the shadow stores them (``stored``), for the backfill.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from collections.abc import Mapping as MappingABC
from itertools import repeat
from operator import itemgetter
from typing import Any

from shadow_audit.mapping.cover import cached_cover_tree, unmapped_values
from shadow_audit.mapping.model import DERIVATIONS, Entity, Field
from shadow_audit.mapping.paths import (
    ELEMENT,
    MISSING,
    POSITION,
    canonical_json,
    get_path,
    split_path,
)


def _to_storage(fld: Field, value: Any) -> Any:
    if value is MISSING:
        return None
    if fld.type == "json" or isinstance(value, dict | list):
        return canonical_json(value)  # lists in their own order, set-like or not
    return value


def rest_of(fld: Field, document: Any) -> Any:
    """The stored form of a rest column: the document's unmapped values as JSON, or NULL.

    Args:
        fld: a rest column (``rest=True``).
        document: the document.

    Returns:
        Canonical JSON text, or ``None`` when every value is mapped.
    """
    rest = unmapped_values(document, cached_cover_tree(fld.covers))
    return None if rest is MISSING else canonical_json(rest)


def project_field(
    fld: Field, source: Any, document: MappingABC[str, Any], *, position: int | None = None
) -> Any:
    """The stored form of one column for one row source (document or element).

    Args:
        fld: the column.
        source: the document, or the list element the row comes from.
        document: the whole document (for derivations).
        position: the element's position in its list (for ``path="#"`` columns).

    Returns:
        The value as the shadow stores it.
    """
    if fld.rest:
        return rest_of(fld, source)
    if fld.path == POSITION:
        return position
    if fld.path is not None:
        return _to_storage(
            fld, source if fld.path == ELEMENT else get_path(source, split_path(fld.path))
        )
    if fld.paths:
        obj = {}
        for name, path in fld.paths:
            value = get_path(source, split_path(path))
            if value is not MISSING:
                obj[name] = value
        return canonical_json(obj)
    assert fld.derive is not None
    return _to_storage(fld, DERIVATIONS[fld.derive](document))


Row = tuple[Any, tuple[Any, ...]]  # (child key or None, values in ``fields`` order)


def iter_rows(
    entity: Entity, document: MappingABC[str, Any], fields: tuple[Field, ...]
) -> Iterator[Row]:
    """Rows of ``entity`` for one document, values for ``fields``.

    Args:
        entity: the table.
        document: a document of the entity's kind.
        fields: the columns to project, in order.

    Yields:
        ``(child key or None, values)`` per row.
    """
    if entity.rows_from is None:
        yield None, tuple(project_field(f, document, document) for f in fields)
        return
    items = get_path(document, split_path(entity.rows_from))
    if not isinstance(items, list):
        return
    key_parts = split_path(entity.key_path or ELEMENT)
    seen: set[Any] = set()
    for position, item in enumerate(items):
        if entity.key_path == POSITION:
            child_key: Any = position
        else:
            child_key = item if entity.key_path == ELEMENT else get_path(item, key_parts)
        if isinstance(child_key, dict | list) or child_key is MISSING:
            child_key = canonical_json(None if child_key is MISSING else child_key)
        if entity.set_like:
            if child_key in seen:
                continue
            seen.add(child_key)
        yield (
            child_key,
            tuple(project_field(f, item, document, position=position) for f in fields),
        )


Projector = Callable[[MappingABC[str, Any]], list[Row]]
Getter = Callable[[Any, Any], Any]
_CONTAINERS = {dict, list}
_DICT = {dict}
_STR = {str}


def _getter(fld: Field) -> Getter:
    """A function (row source, document) -> stored value for one field."""
    if fld.rest:
        tree = cached_cover_tree(fld.covers)  # once, not a cache lookup per row

        def rest(src: Any, doc: Any) -> Any:
            values = unmapped_values(src, tree)
            return None if values is MISSING else canonical_json(values)

        return rest
    if fld.derive is not None:
        derive = DERIVATIONS[fld.derive]
        return lambda src, doc: _stored(fld, derive(doc))
    if fld.paths:
        parts = [(name, split_path(path)) for name, path in fld.paths]

        def composite(src: Any, doc: Any) -> Any:
            obj = {}
            for name, path in parts:
                value = get_path(src, path)
                if value is not MISSING:
                    obj[name] = value
            return canonical_json(obj)

        return composite
    if fld.path == ELEMENT:
        return lambda src, doc: _stored(fld, src)
    path = split_path(fld.path or "")
    if fld.type == "json":

        def as_json(src: Any, doc: Any) -> Any:
            value = get_path(src, path)
            return None if value is MISSING else canonical_json(value)

        return as_json
    if len(path) == 1:
        name = path[0]
        return lambda src, doc: src.get(name)
    return lambda src, doc: _plain(get_path(src, path))


def _plain(value: Any) -> Any:
    return None if value is MISSING else value


def _stored(fld: Field, value: Any) -> Any:
    if fld.type == "json":
        return canonical_json(value)
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
    """What the shadow stores for projected values: a container in a scalar column as JSON.

    Args:
        values: a row's projected values.

    Returns:
        The values as the shadow stores them.
    """
    if _CONTAINERS.isdisjoint(map(type, values)):
        return values
    return tuple(canonical_json(v) if type(v) in _CONTAINERS else v for v in values)


def _positioned(fields: tuple[Field, ...]) -> Callable[[Any, Any, int], tuple[Any, ...]]:
    """(row source, document, position) -> values; position columns get the position."""
    at = [i for i, f in enumerate(fields) if f.path == POSITION]
    others = tuple(f for f in fields if f.path != POSITION)
    base = _values_function(others) if others else (lambda src, doc: ())
    if not at:
        return lambda src, doc, i: base(src, doc)

    def values(src: Any, doc: Any, i: int) -> tuple[Any, ...]:
        out = list(base(src, doc))
        for j in at:
            out.insert(j, i)
        return tuple(out)

    return values


def compile_projector(entity: Entity, fields: tuple[Field, ...]) -> Projector:
    """One function: document -> [(child key or None, values)], equal to ``iter_rows``
    after ``stored`` (a container in a scalar column is left raw here: checking every
    value would cost more than converting the few rows that differ).

    Args:
        entity: the table.
        fields: the columns to project, in order.

    Returns:
        The projector.
    """

    def slow(doc: MappingABC[str, Any]) -> list[Row]:
        return list(iter_rows(entity, doc, fields))

    if entity.rows_from is None:
        values_of = _values_function(fields)

        def single(doc: MappingABC[str, Any]) -> list[Row]:
            try:
                return [(None, values_of(doc, doc))]
            except AttributeError:
                return slow(doc)

        return single

    values_at = _positioned(fields)
    rows_path = split_path(entity.rows_from)
    key_path = entity.key_path or ELEMENT
    key_name = None if key_path in (ELEMENT, POSITION) else key_path
    if key_name is not None and "." in key_name:
        return slow
    # the common tables, a whole list at a time: rows keyed by position whose columns
    # are members of the element, and set-like lists of strings with position columns
    members = _member_names(fields)
    take: Callable[[Any], tuple[Any, ...]] | None = itemgetter(*members) if members else None
    if len(members) == 1:
        one = itemgetter(members[0])
        take = lambda item: (one(item),)  # noqa: E731 (the same shape for one column)
    by_position = key_path == POSITION and take is not None
    positions = sum(f.path == POSITION for f in fields)
    of_strings = key_path == ELEMENT and positions == len(fields)

    def many(doc: MappingABC[str, Any]) -> list[Row]:
        items = get_path(doc, rows_path)
        if type(items) is not list:
            return []
        try:
            if key_path == POSITION:
                if by_position and take is not None and {*map(type, items)} == _DICT:
                    try:
                        return list(enumerate(map(take, items)))
                    except KeyError:  # a member absent: None for it, row by row
                        pass
                return [(i, values_at(item, doc, i)) for i, item in enumerate(items)]
            if (
                of_strings
                and {*map(type, items)} == _STR
                and not (entity.set_like and len(set(items)) < len(items))
            ):
                if not positions:
                    return list(zip(items, repeat(()), strict=False))
                at = zip(*[range(len(items))] * positions, strict=True)
                return list(zip(items, at, strict=True))
            if key_name is None:
                if entity.set_like:
                    firsts: dict[Any, int] = {}
                    for i, item in enumerate(items):
                        firsts.setdefault(item, i)
                    pairs = list(firsts.items())
                else:
                    pairs = [(item, i) for i, item in enumerate(items)]
                if _CONTAINERS.intersection(type(k) for k, _ in pairs) or any(
                    k is None for k, _ in pairs
                ):
                    return slow(doc)
                if not fields:
                    return [(k, ()) for k, _ in pairs]
                return [(item, values_at(item, doc, i)) for item, i in pairs]
            rows = [(item[key_name], values_at(item, doc, i)) for i, item in enumerate(items)]
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


def _member_names(fields: tuple[Field, ...]) -> tuple[str, ...]:
    """The member each column stores, when every column stores one member of the row's
    element as it is (no path below it, no JSON, no derivation); else none."""
    names: list[str] = []
    for f in fields:
        if f.rest or f.derive or f.paths or f.type == "json" or f.path in (None, ELEMENT, POSITION):
            return ()
        parts = split_path(f.path or "")
        if len(parts) != 1:
            return ()
        names.append(parts[0])
    return tuple(names)


def compile_stored_projector(entity: Entity, fields: tuple[Field, ...]) -> Projector:
    """``compile_projector`` whose rows are already as the shadow stores them: equal to
    ``[(k, stored(v)) for k, v in compile_projector(entity, fields)(doc)]``, with one
    C-level look at every value of a list's rows instead of a call per row: hashing all
    their values at once fails on a dict or a list (on anything unhashable), and only
    then is each row passed through ``stored``.

    Args:
        entity: the table.
        fields: the columns to project, in order.

    Returns:
        The projector.
    """
    project = compile_projector(entity, fields)
    if entity.rows_from is None:  # one row, often long JSON text: its types, not its hash

        def single(doc: MappingABC[str, Any]) -> list[Row]:
            return [(k, stored(v)) for k, v in project(doc)]

        return single
    values = itemgetter(1)

    def projector(doc: MappingABC[str, Any]) -> list[Row]:
        rows = project(doc)
        try:
            hash(tuple(map(values, rows)))
        except TypeError:  # a container among them (or another unhashable value)
            return [(k, stored(v)) for k, v in rows]
        return rows

    return projector
