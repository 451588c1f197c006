"""A unit's rows: everything the shadow holds for one document key, table by table."""

from __future__ import annotations

import sqlite3
from typing import Any

from shadow_audit.mapping import DocumentMap, quote
from shadow_audit.stores.sqlite_shadow import table_columns


def unit_rows(
    conn: sqlite3.Connection, mapping: DocumentMap, key: str
) -> dict[str, list[dict[str, Any]]]:
    """Return every row stored for document ``key``, per table, as {column: value}.

    Args:
        conn: an open connection (read-only is enough).
        mapping: the map that names the tables, keys and links.
        key: the document key (the root table's key column).

    Returns:
        The root row and the child rows linked to it; empty when the key has no root row.
    """
    root = mapping.root
    found = conn.execute(
        f"SELECT * FROM {quote(root.table)} WHERE {quote(root.key_column or '')} = ?", (key,)
    ).fetchone()
    if found is None:
        return {}
    row = dict(zip(table_columns(conn, root.table), found, strict=True))
    rows: dict[str, list[dict[str, Any]]] = {root.table: [row]}
    for e in mapping.entities:
        if e.is_root:
            continue
        link = row[e.parent_column]
        cols = table_columns(conn, e.table)
        got = conn.execute(
            f"SELECT * FROM {quote(e.table)} WHERE {quote(e.link_column or '')} = ?", (link,)
        ).fetchall()
        rows[e.table] = [dict(zip(cols, r, strict=True)) for r in got]
    return rows


def read_unit_rows(
    conn: sqlite3.Connection, mapping: DocumentMap, key: str
) -> dict[str, list[tuple[Any, dict[str, Any]]]]:
    """Every row the shadow holds for one document key, per table, as ``build_documents``
    takes them: (child key, {column: value}).

    Args:
        conn: an open connection.
        mapping: the map of the tables.
        key: the document key.

    Returns:
        The rows of ``unit_rows`` with each child row's key beside it (the shape
        ``build_documents`` takes); empty when the key has no root row.
    """
    stored = unit_rows(conn, mapping, key)
    return {
        e.table: [
            (r.get(e.key_column) if e.key_column and not e.is_root else None, r)
            for r in stored[e.table]
        ]
        for e in mapping.entities
        if e.table in stored
    }
