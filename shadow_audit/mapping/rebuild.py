"""Rows back to documents, wherever the map is invertible."""

from __future__ import annotations

from collections.abc import Mapping as MappingABC
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
