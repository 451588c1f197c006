"""Rows back to documents, wherever the map is invertible.

``build_documents`` is the reference; ``compile_rebuilder`` makes, once per map, the
function the read path uses: the same documents from rows given as tuples, with the
column -> path plans made once per table instead of per row (a test holds the two equal).
"""

from __future__ import annotations

import weakref
from collections.abc import Callable
from collections.abc import Mapping as MappingABC
from operator import itemgetter
from typing import Any

import orjson

from shadow_audit.mapping.cover import merge_unmapped
from shadow_audit.mapping.model import DocumentMap, Entity, Field
from shadow_audit.mapping.paths import ELEMENT, POSITION, set_path, split_path


def _from_storage(fld: Field, value: Any) -> Any:
    if fld.type == "json" or fld.paths:
        return orjson.loads(value) if isinstance(value, str | bytes) else value
    return value


def _in_list_order(
    entity: Entity, table_rows: list[tuple[Any, dict[str, Any]]]
) -> list[tuple[Any, dict[str, Any]]]:
    """Child rows in the order of the list they came from: by position where the table
    stores it, else by key."""
    order = entity.order_field
    if entity.key_path == POSITION or order is None:
        return sorted(table_rows, key=lambda r: r[0])

    def place(row: tuple[Any, dict[str, Any]]) -> tuple[bool, Any, Any]:
        position = row[1].get(order.column)
        return (position is None, position if position is not None else 0, row[0])

    return sorted(table_rows, key=place)


def build_documents(
    mapping: DocumentMap, key: str, rows: MappingABC[str, list[tuple[Any, dict[str, Any]]]]
) -> dict[str, dict[str, Any]]:
    """Rebuild documents from rows (child key, {column: value}) per table.

    Derived and shadow-filled columns are skipped; a NULL column means the path
    was absent. Child arrays come back in list order (their position), and the
    values a rest column kept are put back where they were, so a document saved
    through the map comes back equal (``==``) to what was saved.

    Args:
        mapping: the map the rows were written with.
        key: the unit's key (the primary document's key path gets it).
        rows: per table, (child key or None, {column: value}) as read from the shadow.

    Returns:
        {document name: document}; a companion without any row is left out.
    """
    docs: dict[str, dict[str, Any]] = {}
    for d in mapping.documents():
        if d.name != mapping.primary.name and not any(
            rows.get(e.table) for e in mapping.entities if e.document == d.name
        ):
            continue
        docs[d.name] = {}
        if d.key_path:
            set_path(docs[d.name], split_path(d.key_path), key)
    rests: list[tuple[str, Any]] = []
    for e in mapping.entities:
        table_rows = rows.get(e.table, [])
        if e.document not in docs or not table_rows:
            continue
        doc = docs[e.document]
        if e.rows_from is None:
            _fill(doc, e, table_rows[0][1])
            rests += [
                (e.document, _from_storage(f, table_rows[0][1][f.column]))
                for f in e.fields
                if f.rest and table_rows[0][1].get(f.column) is not None
            ]
            continue
        items = []
        for child_key, values in _in_list_order(e, table_rows):
            if e.key_path == ELEMENT:
                items.append(child_key)
                continue
            item: dict[str, Any] = {}
            if e.key_path != POSITION:
                set_path(item, split_path(e.key_path or ""), child_key)
            _fill(item, e, values)
            items.append(item)
        set_path(doc, split_path(e.rows_from), items)
    for name, rest in rests:
        merge_unmapped(docs[name], rest)
    return docs


def _fill(target: dict[str, Any], entity: Entity, values: MappingABC[str, Any]) -> None:
    for f in entity.fields:
        if f.derive or f.fill or f.rest or f.column not in values or values[f.column] is None:
            continue
        value = _from_storage(f, values[f.column])
        if f.paths:
            for name, path in f.paths:
                if name in value:
                    set_path(target, split_path(path), value[name])
        elif f.path not in (None, ELEMENT, POSITION):
            set_path(target, split_path(f.path or ""), value)


# --- the compiled rebuild, for the read path -----------------------------------------

TableRows = tuple[tuple[str, ...], list[tuple[Any, ...]]]  # (column names, row tuples)
_Put = Callable[[dict[str, Any], Any], None]
# (position in the row, parse JSON?, setter of the path, or setters of a composite's parts)
_Fill = tuple[int, bool, _Put | None, tuple[tuple[str, _Put], ...]]


def _putter(parts: tuple[str, ...]) -> _Put:
    """A function (target, value) -> None that sets ``value`` at ``parts`` (as ``set_path``)."""
    if len(parts) == 1:
        name = parts[0]

        def put_one(target: dict[str, Any], value: Any) -> None:
            target[name] = value

        return put_one
    if len(parts) == 2:
        first, second = parts

        def put_two(target: dict[str, Any], value: Any) -> None:
            target.setdefault(first, {})[second] = value

        return put_two
    return lambda target, value: set_path(target, parts, value)


def _fill_plan(entity: Entity, index: MappingABC[str, int]) -> tuple[_Fill, ...]:
    """Per stored column ``_fill`` would use: (position in the row, parse JSON?, setters),
    in field order; a column the table lacks is left out (it reads as absent)."""
    plan: list[_Fill] = []
    for f in entity.fields:
        if f.derive or f.fill or f.rest or f.column not in index:
            continue
        as_json = f.type == "json" or bool(f.paths)
        if f.paths:
            plan.append((index[f.column], as_json, None, tuple(
                (name, _putter(split_path(path))) for name, path in f.paths
            )))  # fmt: skip
        elif f.path not in (None, ELEMENT, POSITION):
            plan.append((index[f.column], as_json, _putter(split_path(f.path or "")), ()))
    return tuple(plan)


def _apply(target: dict[str, Any], row: tuple[Any, ...], plan: tuple[_Fill, ...]) -> None:
    for i, as_json, put, parts in plan:
        value = row[i]
        if value is None:
            continue
        if as_json and (type(value) is str or type(value) is bytes):
            value = orjson.loads(value)
        if put is not None:
            put(target, value)
            continue
        for name, put_part in parts:
            if name in value:
                put_part(target, value[name])


class _TablePlan:
    """One table's rebuild for one set of columns (as the database has them)."""

    def __init__(self, entity: Entity, columns: tuple[str, ...]) -> None:
        index = {c: i for i, c in enumerate(columns)}
        self.fill = _fill_plan(entity, index)
        self.rests = tuple(
            (index[f.column], f.type == "json")
            for f in entity.fields
            if f.rest and f.column in index
        )
        key = entity.key_column
        at = index.get(key) if key and not entity.is_root else None
        self.child_key: Callable[[tuple[Any, ...]], Any] = (
            (lambda row: None) if at is None else itemgetter(at)
        )
        # when every column is a plain value at one key of the element (and the key is not
        # put back): each element is one dict comprehension
        flat = tuple(
            (i, split_path(f.path or "")[0])
            for f in entity.fields
            if not (f.derive or f.fill or f.rest)
            and f.path not in (None, ELEMENT, POSITION)
            and "." not in (f.path or "")
            and f.type != "json"
            and (i := index.get(f.column)) is not None
        )
        self.flat = flat if len(flat) == len(self.fill) else None
        order = entity.order_field
        self.order = (
            None if entity.key_path == POSITION or order is None else index.get(order.column, -1)
        )
        self.element = entity.key_path == ELEMENT
        self.put_key = (
            None
            if entity.key_path in (ELEMENT, POSITION, None)
            else _putter(split_path(entity.key_path))
        )

    def in_list_order(self, rows: list[tuple[Any, ...]]) -> list[tuple[Any, ...]]:
        """As ``_in_list_order``: by position where the table stores it, else by key."""
        if self.order is None:
            return sorted(rows, key=self.child_key)
        at = self.order

        def place(row: tuple[Any, ...]) -> tuple[bool, Any, Any]:
            position = row[at] if at >= 0 else None
            return (position is None, position if position is not None else 0, self.child_key(row))

        return sorted(rows, key=place)

    def items(self, rows: list[tuple[Any, ...]]) -> list[Any]:
        """The list the child rows came from, in its order."""
        ordered = self.in_list_order(rows)
        if self.element:
            return [self.child_key(row) for row in ordered]
        fill, put_key, flat = self.fill, self.put_key, self.flat
        if flat is not None and put_key is None:
            return [{name: row[i] for i, name in flat if row[i] is not None} for row in ordered]
        out = []
        for row in ordered:
            item: dict[str, Any] = {}
            if put_key is not None:
                put_key(item, self.child_key(row))
            _apply(item, row, fill)
            out.append(item)
        return out


class Rebuilder:
    """``build_documents``, compiled once for one map: the same documents from the same
    rows, given per table as (column names, row tuples), with no per-row dicts or path
    parsing. Plans are made per table and column set on first use and kept."""

    def __init__(self, mapping: DocumentMap) -> None:
        primary = mapping.primary.name
        self._documents = tuple(
            (
                d.name,
                d.name == primary,
                _putter(split_path(d.key_path)) if d.key_path else None,
                tuple(e.table for e in mapping.entities if e.document == d.name),
            )
            for d in mapping.documents()
        )
        self._entities = tuple(
            (e, split_path(e.rows_from) if e.rows_from is not None else None)
            for e in mapping.entities
        )
        self._plans: dict[tuple[str, tuple[str, ...]], _TablePlan] = {}

    def _plan(self, entity: Entity, columns: tuple[str, ...]) -> _TablePlan:
        plan = self._plans.get((entity.table, columns))
        if plan is None:
            plan = self._plans[(entity.table, columns)] = _TablePlan(entity, columns)
        return plan

    def __call__(self, key: str, tables: MappingABC[str, TableRows]) -> dict[str, dict[str, Any]]:
        """Rebuild one key's documents.

        Args:
            key: the unit's key.
            tables: per table, (column names, rows) as read from the shadow.

        Returns:
            What ``build_documents`` returns for the same rows.
        """
        docs: dict[str, dict[str, Any]] = {}
        for name, is_primary, put_key, tables_of in self._documents:
            if not is_primary and not any(
                (t := tables.get(table)) is not None and t[1] for table in tables_of
            ):
                continue
            doc: dict[str, Any] = {}
            if put_key is not None:
                put_key(doc, key)
            docs[name] = doc
        rests: list[tuple[str, Any]] = []
        for e, rows_from in self._entities:
            found = tables.get(e.table)
            if found is None or not found[1] or e.document not in docs:
                continue
            columns, rows = found
            plan = self._plan(e, columns)
            doc = docs[e.document]
            if rows_from is None:
                first = rows[0]
                _apply(doc, first, plan.fill)
                for i, as_json in plan.rests:
                    value = first[i]
                    if value is not None:
                        if as_json and isinstance(value, str | bytes):
                            value = orjson.loads(value)
                        rests.append((e.document, value))
                continue
            set_path(doc, rows_from, plan.items(rows))
        for name, rest in rests:
            merge_unmapped(docs[name], rest)
        return docs


def compile_rebuilder(mapping: DocumentMap) -> Rebuilder:
    """The compiled rebuild of one map, made once per map and reused (a map is immutable).

    Args:
        mapping: the map the rows were written with.

    Returns:
        A ``Rebuilder``; calling it equals ``build_documents`` on the same rows.
    """
    hit = _COMPILED.get(id(mapping))
    if hit is not None and hit[0]() is mapping:
        return hit[1]
    rebuilder = Rebuilder(mapping)
    ident = id(mapping)
    _COMPILED[ident] = (weakref.ref(mapping, lambda _: _COMPILED.pop(ident, None)), rebuilder)
    return rebuilder


_COMPILED: dict[int, tuple[weakref.ref[DocumentMap], Rebuilder]] = {}
