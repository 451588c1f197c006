"""A unit's rows: everything the shadow holds for one document key, table by table.

``UnitReader`` makes each table's statement once per map (the connection's statement
cache then reuses the prepared statement: the SQL text never changes) and returns rows as
tuples beside their column names, the shape ``compile_rebuilder`` takes; ``unit_rows`` and
``read_unit_rows`` give the same rows as dicts.
"""

from __future__ import annotations

import sqlite3
from operator import itemgetter
from typing import Any

from shadow_audit.mapping import DocumentMap, TableRows, quote


class UnitReader:
    """The statements that read one unit's rows, made once for a map."""

    def __init__(self, mapping: DocumentMap) -> None:
        root = mapping.root
        self.root = root.table
        self.root_sql = (
            f"SELECT * FROM {quote(root.table)} WHERE {quote(root.key_column or '')} = ?"
        )
        self.children = tuple(
            (
                e.table,
                e.parent_column,
                f"SELECT * FROM {quote(e.table)} WHERE {quote(e.link_column or '')} = ?",
            )
            for e in mapping.entities
            if not e.is_root
        )

    def read(self, conn: sqlite3.Connection, key: str) -> dict[str, TableRows]:
        """Every row stored for document ``key``, per table, as (column names, rows).

        Args:
            conn: an open connection (read-only is enough); run it inside one read
                transaction for a consistent snapshot.
            key: the document key (the root table's key column).

        Returns:
            The root row and the child rows linked to it (through the root row's
            ``parent_column``); empty when the key has no root row.
        """
        cursor = conn.execute(self.root_sql, (key,))
        found = cursor.fetchone()
        if found is None:
            return {}
        columns = _columns(cursor)
        tables: dict[str, TableRows] = {self.root: (columns, [found])}
        for table, parent_column, sql in self.children:
            link = found[columns.index(parent_column)]
            cursor = conn.execute(sql, (link,))
            rows = cursor.fetchall()
            tables[table] = (_columns(cursor), rows)
        return tables


def _columns(cursor: sqlite3.Cursor) -> tuple[str, ...]:
    return tuple(map(itemgetter(0), cursor.description))


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
    return {
        table: [dict(zip(columns, row, strict=True)) for row in rows]
        for table, (columns, rows) in UnitReader(mapping).read(conn, key).items()
    }


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
