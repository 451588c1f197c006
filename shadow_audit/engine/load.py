"""The shadow side of the audit: every mapped table read over a read-only connection.

Rows are ``{key tuple: value tuple}`` per table, the cheapest shape to compare.
"""

from __future__ import annotations

import gc
import sqlite3
from collections import Counter
from collections.abc import Iterator
from contextlib import closing, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from shadow_audit.engine.findings import Finding
from shadow_audit.mapping import (
    DocumentMap,
    Entity,
    Field,
    quote,
)
from shadow_audit.progress import Progress
from shadow_audit.stores.sqlite_shadow import connect_readonly, table_columns

if TYPE_CHECKING:
    from shadow_audit.engine.partition import KeyPartition

Key = tuple[Any, ...]
Rows = dict[Key, tuple[Any, ...]]


@dataclass
class ShadowRows:
    """What the database holds, per table, for the compared columns it has."""

    rows: dict[str, Rows] = field(default_factory=dict)
    fields: dict[str, tuple[Field, ...]] = field(default_factory=dict)
    duplicates: list[Finding] = field(default_factory=list)
    excluded: dict[str, set[Any]] = field(default_factory=dict)
    missing_columns: list[dict[str, Any]] = field(default_factory=list)
    missing_tables: list[str] = field(default_factory=list)
    # the map as this database keys its tables (a legacy key where it lacks a position)
    mapping: DocumentMap | None = None


@contextmanager
def gc_paused() -> Iterator[None]:
    """Parsing makes millions of objects that all live: the collector would only slow it."""
    was = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was:
            gc.enable()


def key_text(key: Key) -> str:
    """Return a row key as findings show it: its parts joined by ``/``.

    Args:
        key: the row key (document key, then child keys).

    Returns:
        The text, such as ``proj-1/3``.
    """
    return "/".join(str(k) for k in key)


def load_shadow(
    path: Path | str,
    mapping: DocumentMap,
    *,
    progress: Progress | None = None,
    part: KeyPartition | None = None,
    schema_only: bool = False,
) -> ShadowRows:
    """Read every mapped table (read-only); tables or columns it lacks are noted, not fatal.

    Args:
        path: the SQLite file.
        mapping: the map of the tables.
        progress: ticked once per table.
        part: only the rows of this key partition's document keys (default: all rows).
        schema_only: read the tables' columns, not their rows (``rows`` stays empty).

    Returns:
        The rows per table, with what the database lacks.

    Raises:
        DatabaseError: the file is missing or not SQLite.
    """
    out = ShadowRows(mapping=mapping)
    if part is not None and part.count == 1:
        part = None  # the one partition holds every row: no filter
    with closing(connect_readonly(path)) as conn:
        if part is not None:
            part.register(conn)
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        for entity in mapping.entities:
            if progress:
                progress(1)
            if entity.table not in tables:
                out.missing_tables.append(entity.table)
                continue
            present = set(table_columns(conn, entity.table))
            entity = _as_keyed(entity, present, out)
            fields = []
            for f in entity.projected_fields:
                if f.column in present:
                    if f.compared:
                        fields.append(f)
                else:
                    out.missing_columns.append(
                        {
                            "entity": entity.table,
                            "column": f.column,
                            "path": entity.source_path(f),
                            "document": entity.document,
                        }
                    )
            out.fields[entity.table] = tuple(fields)
            if not schema_only:
                out.rows[entity.table] = _read_table(
                    conn, mapping, entity, tuple(fields), out, part=part
                )
    return out


def read_unit_rows(
    conn: sqlite3.Connection,
    mapping: DocumentMap,
    fields: dict[str, tuple[Field, ...]],
    key: Any,
) -> ShadowRows:
    """The rows of one document key, table by table, for the columns in ``fields`` (the
    ones ``load_shadow`` found); inside the caller's read transaction.

    Args:
        conn: a read-only connection inside the caller's read transaction.
        mapping: the map of the tables.
        fields: the columns to read per table.
        key: the document key.

    Returns:
        The unit's rows, as ``load_shadow`` gives every unit's.
    """
    out = ShadowRows(fields=dict(fields))
    for entity in mapping.entities:
        if entity.table in fields:
            out.rows[entity.table] = _read_table(
                conn, mapping, entity, fields[entity.table], out, unit=(key,)
            )
    return out


def _as_keyed(entity: Entity, present: set[str], out: ShadowRows) -> Entity:
    """The entity as the database keys it; a position key it lacks is listed in coverage
    and the rows are keyed by the legacy key (repeated ones then show as duplicates)."""
    if entity.legacy_key is None or entity.key_column in present:
        return entity
    if entity.legacy_key[0] not in present:
        return entity
    out.missing_columns.append(
        {
            "entity": entity.table,
            "column": entity.key_column,
            "path": entity.key_source_path,
            "document": entity.document,
        }
    )
    legacy = entity.keyed_by_legacy()
    if out.mapping is not None:
        out.mapping = out.mapping.with_entity(legacy)
    return legacy


def _partition_sql(entity: Entity, parent: Entity, columns: list[str], *, null_links: bool) -> str:
    """A child table's rows of one key partition (``sa_part``; parameters: the partition,
    two or three times): the partition's parents with their children, looked up through
    the link column's index; then the orphans (no parent, or one without a key), found
    from the index of distinct links, in the partition of their ``<orphan …>`` key text;
    then, when the link column may be NULL, the rows without a link."""
    t, pt = quote(entity.table), quote(parent.table)
    pk, pc = quote(parent.key_column or ""), quote(entity.parent_column)
    lk = quote(entity.link_column or "")
    selected = ", ".join(columns)
    orphans = f"SELECT {selected} FROM {t} c LEFT JOIN {pt} p ON c.{lk} = p.{pc} WHERE "
    unkeyed = (
        f"SELECT {lk} FROM {t} EXCEPT SELECT {pc} FROM {pt} WHERE {pk} IS NOT NULL "
        f"UNION SELECT {pc} FROM {pt} WHERE {pk} IS NULL"
    )
    key = columns[0]
    sql = (
        f"SELECT {selected} FROM {pt} p CROSS JOIN {t} c ON c.{lk} = p.{pc} "
        f"WHERE p.{pk} IS NOT NULL AND sa_part(p.{pk}) = ? "
        f"UNION ALL {orphans}c.{lk} IN ({unkeyed}) AND p.{pk} IS NULL AND sa_part({key}) = ?"
    )
    if null_links:
        sql += f" UNION ALL {orphans}c.{lk} IS NULL AND sa_part({key}) = ?"
    return sql


def _read_table(
    conn: sqlite3.Connection,
    mapping: DocumentMap,
    entity: Entity,
    fields: tuple[Field, ...],
    out: ShadowRows,
    unit: tuple[Any] | None = None,
    part: KeyPartition | None = None,
) -> Rows:
    """All rows of a table, or with ``unit`` only those of that one document key, or with
    ``part`` those of one key partition (``sa_part``, registered on ``conn``, runs once
    per parent row, not per child row; an orphan is in the partition of its key text)."""
    params: tuple[Any, ...] = unit or ()
    t = quote(entity.table)
    values = [f"c.{quote(f.column)}" for f in fields]
    if entity.is_root:
        keys = [f"c.{quote(entity.key_column or '')}"]
        sql = f"SELECT {', '.join(keys + values)} FROM {t} c"
        if unit is not None:
            sql += f" WHERE {keys[0]} = ?"
        elif part is not None:
            sql += f" WHERE sa_part({keys[0]}) = ?"
            params = (part.index,)
    else:
        parent = mapping.entity(entity.parent or "")
        link = f"c.{quote(entity.link_column or '')}"
        keys = [f"COALESCE(p.{quote(parent.key_column or '')}, '<orphan ' || {link} || '>')"]
        if entity.key_column:
            keys.append(f"c.{quote(entity.key_column)}")
        sql = (
            f"SELECT {', '.join(keys + values)} FROM {t} c LEFT JOIN {quote(parent.table)} p "
            f"ON {link} = p.{quote(entity.parent_column)}"
        )
        if unit is not None:
            sql += f" WHERE p.{quote(parent.key_column or '')} = ?"
        elif part is not None:
            info = conn.execute(f"PRAGMA table_info({t})").fetchall()
            null_links = not any(r[1] == entity.link_column and r[3] for r in info)
            sql = _partition_sql(entity, parent, keys + values, null_links=null_links)
            params = (part.index,) * (3 if null_links else 2)
    n = len(keys)
    fetched = conn.execute(sql, params).fetchall()
    with gc_paused():
        rows = {(r[0],): r[1:] for r in fetched} if n == 1 else {r[:n]: r[n:] for r in fetched}
    if len(rows) != len(fetched):
        seen: Counter[Key] = Counter(r[:n] for r in fetched)
        for key, count in seen.items():
            if count > 1:
                out.duplicates.append(
                    Finding(
                        kind="duplicate_key",
                        entity=entity.table,
                        key=key_text(key),
                        document=entity.document,
                        detail=f"{count} rows in the shadow table",
                    )
                )
                rows.pop(key, None)
                out.excluded.setdefault(entity.table, set()).add(key)
    return rows
