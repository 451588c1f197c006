"""Rows back to documents, wherever the map is invertible."""

from __future__ import annotations

from collections.abc import Mapping as MappingABC
from typing import Any

import orjson

from shadow_audit.mapping.model import DocumentMap, Entity, Field
from shadow_audit.mapping.paths import ELEMENT, set_path, split_path


def _from_storage(fld: Field, value: Any) -> Any:
    if fld.type == "json" or fld.paths:
        return orjson.loads(value) if isinstance(value, str | bytes) else value
    return value


def build_documents(
    mapping: DocumentMap, key: str, rows: MappingABC[str, list[tuple[Any, dict[str, Any]]]]
) -> dict[str, dict[str, Any]]:
    """Rebuild documents from rows (child key, {column: value}) per table.

    Derived and shadow-filled columns are skipped; a NULL column means the path
    was absent. Child arrays come back ordered by their key.
    """
    docs: dict[str, dict[str, Any]] = {}
    for d in mapping.documents():
        if (
            d.key_path
            and d.name != mapping.primary.name
            and not any(rows.get(e.table) for e in mapping.entities if e.document == d.name)
        ):
            continue
        docs[d.name] = {}
        if d.key_path:
            set_path(docs[d.name], split_path(d.key_path), key)
    for e in mapping.entities:
        table_rows = rows.get(e.table, [])
        if e.document not in docs or not table_rows:
            continue
        doc = docs[e.document]
        if e.rows_from is None:
            _fill(doc, e, table_rows[0][1])
            continue
        items = []
        for child_key, values in sorted(table_rows, key=lambda r: r[0]):
            if e.key_path == ELEMENT:
                items.append(child_key)
                continue
            item: dict[str, Any] = {}
            set_path(item, split_path(e.key_path or ""), child_key)
            _fill(item, e, values)
            items.append(item)
        set_path(doc, split_path(e.rows_from), items)
    return docs


def _fill(target: dict[str, Any], entity: Entity, values: MappingABC[str, Any]) -> None:
    for f in entity.fields:
        if f.derive or f.fill or f.column not in values or values[f.column] is None:
            continue
        value = _from_storage(f, values[f.column])
        if f.paths:
            for name, path in f.paths:
                if name in value:
                    set_path(target, split_path(path), value[name])
        elif f.path not in (None, ELEMENT):
            set_path(target, split_path(f.path or ""), value)
