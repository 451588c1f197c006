"""Many units into the shadow at once: the rows ``SqliteShadow.write`` would write, in bulk.

The backfill projects units elsewhere (on other cores) and hands their rows here;
one transaction then writes a whole batch with a few statements per table. The
tables end exactly as ``write`` would leave them unit by unit: the same rows, the
same ids (each table's inserts happen in unit order, and AUTOINCREMENT numbers
each table on its own), unchanged rows left alone, so a second run writes nothing.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from contextlib import nullcontext
from dataclasses import dataclass
from functools import cached_property
from itertools import accumulate
from typing import Any

from shadow_audit.clock import utc_stamp
from shadow_audit.errors import DatabaseError
from shadow_audit.mapping import DocumentMap, Entity, Field, Row, quote
from shadow_audit.stores.changes import note_units, triggers_set_aside
from shadow_audit.stores.sqlite_shadow import SqliteShadow

# (key, rows per table in the layouts' order; None: the table's document was not read)
UnitRows = tuple[str, Sequence[Sequence[Row] | None]]
IN_CHUNK = 500  # parameters per ``IN (...)`` lookup
# At most, rows per INSERT statement (also held by SQLite's parameter limit). Each batch
# sets the change-record triggers aside, a schema change that makes SQLite prepare every
# statement again: past ~100 rows a longer statement saves less than it costs to prepare.
MULTI_ROWS = 100
_ABSENT = object()


@dataclass(frozen=True)
class TableLayout:
    """How the database holds one table: the entity as it is keyed there, the projected
    fields it has columns for, and its fill columns (import time)."""

    entity: Entity
    fields: tuple[Field, ...]
    fills: tuple[Field, ...]

    @property
    def flat_width(self) -> int:
        """Values per row of the table's ``FlatRows``: the link, the child key (when the
        table has one), the fields, the fills."""
        return 1 + bool(self.entity.key_column) + len(self.fields) + len(self.fills)


@dataclass(frozen=True)
class FlatRows:
    """One child table's rows of a chunk of units, flat and ready to insert: row r is
    ``flat[r * width : (r + 1) * width]`` = (the unit's index in the chunk, its child key
    when the table has one, the values, a None per fill column); ``counts[u]``: how many
    rows the chunk's unit u has (None: its document was not read)."""

    width: int
    keyed: bool
    fills: int
    counts: list[int | None]
    flat: list[Any]

    @cached_property
    def _starts(self) -> list[int]:
        """Per unit, the rows of the units before it."""
        return [0, *accumulate(c or 0 for c in self.counts)]

    def rows(self, unit: int) -> list[Row] | None:
        """The unit's rows as ``(child key, values)``, or None (its document was not read).

        Args:
            unit: the unit's index in the chunk.

        Returns:
            The rows, in order.
        """
        count = self.counts[unit]
        if count is None:
            return None
        start = self._starts[unit] * self.width
        first = 2 if self.keyed else 1
        end = self.width - self.fills
        flat, width = self.flat, self.width
        return [
            (flat[at + 1] if self.keyed else None, tuple(flat[at + first : at + end]))
            for at in range(start, start + count * width, width)
        ]


@dataclass(frozen=True)
class FlatChunk:
    """The child rows of a chunk of units (per layout; None for the root table), and for
    each unit given to ``import_units`` its index in the chunk (None: its rows are not
    these, e.g. read again since)."""

    tables: tuple[FlatRows | None, ...]
    units: tuple[int | None, ...]


def table_layouts(shadow: SqliteShadow, conn: sqlite3.Connection) -> tuple[TableLayout, ...]:
    """Each table of the shadow's mapping as the database holds it (as ``write`` projects).

    Args:
        shadow: the shadow.
        conn: an open connection to it.

    Returns:
        One ``TableLayout`` per entity, in the mapping's order.
    """
    tables = []
    for entity in shadow.mapping.entities:
        held = entity if entity.is_root else shadow.as_stored(conn, entity)
        present = shadow.columns(conn, held.table)
        fields = tuple(f for f in held.projected_fields if f.column in present)
        fills = () if entity.is_root else tuple(f for f in held.fields if f.fill)
        tables.append(TableLayout(held, fields, tuple(f for f in fills if f.column in present)))
    return tuple(tables)


def import_units(
    shadow: SqliteShadow,
    conn: sqlite3.Connection,
    *,
    layouts: Sequence[TableLayout],
    units: Sequence[UnitRows],
    flat: FlatChunk | None = None,
) -> list[bool]:
    """Write many units' projected rows inside an open transaction.

    A table is written for a unit only when its rows are given (its document was read),
    as ``write`` does with ``complete=False``.

    Args:
        shadow: the shadow (its mapping names parents and links).
        conn: a connection inside an open write transaction.
        layouts: ``table_layouts(shadow, conn)``; the rows were projected with their fields.
        units: (key, per layout: [(child key, stored values)] or None), keys distinct.
        flat: the same child rows, flat (as workers send them): a table none of whose
            units has rows yet is inserted from them, with no row built here.

    Returns:
        Per unit, whether any of its rows was inserted, updated or deleted.

    Raises:
        DatabaseError: a child row has no root row to belong to.
        ValueError: two units have the same key.
    """
    keys = _keys(units)
    if len(set(keys)) != len(keys):
        raise ValueError("import_units: the units' keys are not distinct")
    mapping = shadow.mapping
    changed = [False] * len(units)
    at = next(i for i, t in enumerate(layouts) if t.entity.is_root)
    root = layouts[at].entity
    links = _orphan_links(mapping, root)
    # the change record's triggers would fire per row: noted here per unit instead
    with triggers_set_aside(conn, mapping) if links is not None else nullcontext(False) as aside:
        ids, fresh = _import_roots(conn, layouts[at], at, units, changed)
        stamp = utc_stamp()
        for i, table in enumerate(layouts):
            if not table.entity.is_root:
                parent = mapping.entity(table.entity.parent or "")
                if not _insert_flat(conn, table, i, parent, flat, ids, units, changed, stamp):
                    _import_children(conn, table, i, parent, units, ids, changed, stamp)
        if aside and links is not None:
            # as the triggers note them: each new root row's link values (it may own
            # orphan rows), then every unit any row of which was written
            link = {"id": ids, root.key_column: keys}
            orphans = [f"<orphan {link[column][i]}>" for i in fresh for column in links]
            written = [key for key, did in zip(keys, changed, strict=True) if did]
            note_units(conn, [*orphans, *written])
    return changed


def _orphan_links(mapping: DocumentMap, root: Entity) -> list[str] | None:
    """The root's columns its child rows link to (a new root row notes ``<orphan VALUE>``
    for each, as its insert trigger does); None when one is a column other than the id or
    the key (its value's text would be SQLite's to make: the triggers then fire as usual)."""
    links = sorted({c.parent_column for c in mapping.entities if c.parent == root.table})
    return links if set(links) <= {"id", root.key_column} else None


def _lookup(
    conn: sqlite3.Connection, select: str, column: str, values: list[Any]
) -> Sequence[tuple[Any, ...]]:
    """``select`` with ``WHERE column IN (values)``, in chunks."""
    found: list[tuple[Any, ...]] = []
    for at in range(0, len(values), IN_CHUNK):
        part = values[at : at + IN_CHUNK]
        found += conn.execute(f"{select} WHERE {column} IN ({', '.join('?' * len(part))})", part)
    return found


def _import_roots(
    conn: sqlite3.Connection,
    table: TableLayout,
    at: int,
    units: Sequence[UnitRows],
    changed: list[bool],
) -> tuple[list[Any], list[int]]:
    """Insert, update or leave alone each root row, in unit order; return the ids, and the
    indexes of the units whose row was inserted.

    New rows get the ids AUTOINCREMENT would give them one by one (one past the largest
    ever used, as ``sqlite_sequence`` and the table hold it: the write lock is held), so
    they are inserted with one ``executemany``."""
    root = table.entity
    t, kc = quote(root.table), quote(root.key_column or "")
    cols = [quote(f.column) for f in table.fields]
    select = f"SELECT {', '.join([kc, 'id', *cols])} FROM {t}"
    found = {row[0]: (row[1], tuple(row[2:])) for row in _lookup(conn, select, kc, _keys(units))}
    update = f"UPDATE {t} SET {', '.join(f'{c} = ?' for c in cols)} WHERE id = ?"
    ids: list[Any] = []
    fresh: list[int] = []
    inserts: list[tuple[Any, ...]] = []
    next_id: int | None = None
    for i, (key, tables) in enumerate(units):
        have = found.get(key)
        given = tables[at] if at < len(tables) else None
        if given is None:
            ids.append(None if have is None else have[0])
        elif have is None:
            if next_id is None:
                next_id = _next_id(conn, root.table)
            inserts.append((next_id, key, *given[0][1]))
            ids.append(next_id)
            fresh.append(i)
            next_id += 1
            changed[i] = True
        else:
            if have[1] != given[0][1]:
                conn.execute(update, (*given[0][1], have[0]))
                changed[i] = True
            ids.append(have[0])
    insert_all(conn, root.table, ["id", kc, *cols], inserts)
    return ids, fresh


def _next_id(conn: sqlite3.Connection, table: str) -> int:
    """The id the next AUTOINCREMENT insert into ``table`` would get."""
    try:
        row = conn.execute("SELECT seq FROM sqlite_sequence WHERE name = ?", (table,)).fetchone()
    except sqlite3.OperationalError:  # no AUTOINCREMENT table in this database yet
        row = None
    top = conn.execute(f"SELECT max(id) FROM {quote(table)}").fetchone()[0]
    return max(row[0] if row else 0, top or 0) + 1


def _keys(units: Sequence[UnitRows]) -> list[str]:
    """The units' keys, in order."""
    return [key for key, _ in units]


def _insert_flat(
    conn: sqlite3.Connection,
    table: TableLayout,
    at: int,
    parent: Entity,
    flat: FlatChunk | None,
    ids: list[Any],
    units: Sequence[UnitRows],
    changed: list[bool],
    stamp: str,
) -> bool:
    """Insert a child table's rows straight from their flat list, when every unit with rows
    there is a given unit, every given unit with rows for the table has them there (not
    one read again since), and none of them has rows in the table yet (a first import);
    return whether it did (else nothing is written)."""
    rows = flat.tables[at] if flat is not None else None
    entity = table.entity
    width = table.flat_width
    if flat is None or rows is None or not parent.is_root or rows.width != width:
        return False
    given: dict[int, int] = {}
    for unit, chunk in enumerate(flat.units):
        if chunk is not None:
            given[chunk] = unit
        elif at < len(units[unit][1]) and units[unit][1][at] is not None:
            return False  # its rows are not among the flat ones
    link_of: list[Any] = [None] * len(rows.counts)
    for chunk, count in enumerate(rows.counts):
        if count is None:
            continue
        i = given.get(chunk)
        if i is None:
            return False
        link_of[chunk] = ids[i] if entity.parent_column == "id" else units[i][0]
    t, lc = quote(entity.table), quote(entity.link_column or "")
    links = [link for link in link_of if link is not None]
    if _lookup(conn, f"SELECT 1 FROM {t}", lc, links):
        return False
    values = rows.flat.copy()  # left as given: a failed batch is written again from it
    values[0::width] = [link_of[chunk] for chunk in values[0::width]]
    for slot in range(width - rows.fills, width):
        values[slot::width] = [stamp] * (len(values) // width)
    for chunk, count in enumerate(rows.counts):
        if count:
            changed[given[chunk]] = True
    kc = [quote(entity.key_column)] if entity.key_column else []
    columns = [lc, *kc, *(quote(f.column) for f in (*table.fields, *table.fills))]
    insert_flat(conn, entity.table, columns, values)
    return True


def _import_children(
    conn: sqlite3.Connection,
    table: TableLayout,
    at: int,
    parent: Entity,
    units: Sequence[UnitRows],
    ids: list[Any],
    changed: list[bool],
    stamp: str,
) -> None:
    """Bring one child table to exactly the units' rows: delete, update, insert in bulk."""
    entity = table.entity
    links: list[tuple[int, Any]] = []
    for i, (key, tables) in enumerate(units):
        if at >= len(tables) or tables[at] is None:
            continue
        link = key if entity.parent_column != "id" else ids[i] if parent.is_root else None
        if link is None:
            raise DatabaseError(f"table {entity.table}: no {parent.table} row for {key!r}")
        links.append((i, link))
    if not links:
        return
    t, lc = quote(entity.table), quote(entity.link_column or "")
    kc = quote(entity.key_column) if entity.key_column else None
    value_cols = [quote(f.column) for f in table.fields]
    fill_cols = [quote(f.column) for f in table.fills]
    existing: dict[Any, dict[Any, tuple[Any, ...]]] = {}
    select = f"SELECT {', '.join([lc, kc or 'NULL', *value_cols])} FROM {t}"
    for row in _lookup(conn, select, lc, [link for _, link in links]):
        existing.setdefault(row[0], {})[row[1]] = tuple(row[2:])
    fills = [stamp] * len(fill_cols)
    deletes: list[tuple[Any, ...]] = []
    updates: list[tuple[Any, ...]] = []
    inserts: list[tuple[Any, ...]] = []
    for i, link in links:
        wanted = dict(units[i][1][at] or ())
        have = existing.get(link)
        if have is None:
            if wanted:
                if kc:
                    inserts += [(link, k, *v, *fills) for k, v in wanted.items()]
                else:
                    inserts += [(link, *v, *fills) for v in wanted.values()]
                changed[i] = True
            continue
        before = len(deletes) + len(updates) + len(inserts)
        deletes += [(link, *_k(kc, gone)) for gone in have.keys() - wanted.keys()]
        for child_key, values in wanted.items():
            old = have.get(child_key, _ABSENT)
            if old is _ABSENT:
                inserts.append((link, *_k(kc, child_key), *values, *fills))
            elif old != values:
                updates.append((*values, *fills, link, *_k(kc, child_key)))
        if len(deletes) + len(updates) + len(inserts) != before:
            changed[i] = True
    key_where = f" AND {kc} = ?" if kc else ""
    conn.executemany(f"DELETE FROM {t} WHERE {lc} = ?{key_where}", deletes)
    sets = ", ".join(f"{c} = ?" for c in [*value_cols, *fill_cols])
    conn.executemany(f"UPDATE {t} SET {sets} WHERE {lc} = ?{key_where}", updates)
    insert_all(conn, entity.table, [lc, *([kc] if kc else []), *value_cols, *fill_cols], inserts)


def insert_all(
    conn: sqlite3.Connection, table: str, columns: Sequence[str], rows: Sequence[Sequence[Any]]
) -> None:
    """Insert rows in order, many rows per ``INSERT ... VALUES (...), (...)`` statement:
    the table's AUTOINCREMENT bookkeeping (``sqlite_sequence``) is done once per statement,
    not once per row, and no staging table is needed (measured per child row: a third less
    than a staging table and ``INSERT ... SELECT``, half of one ``executemany``). The ids
    are those of inserting the rows one by one, in order.

    Args:
        conn: a connection inside an open write transaction.
        table: the table.
        columns: the quoted columns the rows give values for, in order.
        rows: the rows.
    """
    insert_flat(conn, table, columns, [v for row in rows for v in row])


def insert_flat(
    conn: sqlite3.Connection, table: str, columns: Sequence[str], values: list[Any]
) -> None:
    """``insert_all`` of rows given one after the other in one flat list.

    Args:
        conn: a connection inside an open write transaction.
        table: the table.
        columns: the quoted columns each row gives values for, in order.
        values: the rows' values, row after row.
    """
    width = len(columns)
    if not values:
        return
    per = max(1, min(MULTI_ROWS, conn.getlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER) // width))
    head = f"INSERT INTO {quote(table)} ({', '.join(columns)}) VALUES "
    one = f"({', '.join('?' * width)})"
    step = per * width
    full = head + ", ".join([one] * per)
    for at in range(0, len(values), step):
        part = values[at : at + step]
        sql = full if len(part) == step else head + ", ".join([one] * (len(part) // width))
        conn.execute(sql, part)


def _k(key_column: str | None, child_key: Any) -> tuple[Any, ...]:
    return (child_key,) if key_column else ()
