"""The shadow's change record: triggers note which unit every write touched.

Every INSERT, UPDATE and DELETE on a mapped table, through any SQLite client, upserts
the affected document key into ``shadow_audit_changes`` (one row per key, with the
next sequence number), so an incremental audit re-reads exactly the units written
since the sequence number it last saw. A child row is noted under its mission's key
(or ``<orphan N>`` when that mission is missing: the key the audit gives such rows);
a key UPDATE notes the old key and the new one. The record holds at most one row per
key ever written: it never grows with the number of writes.

A bulk import (the backfill) writes thousands of rows per transaction; a trigger per
row would cost it more than the rows themselves (each upsert moves the key in the
sequence index). Inside its own write transaction it sets the triggers aside
(``triggers_set_aside``), notes the units it wrote itself (``note_units``) and puts the
triggers back, as they were, before the transaction commits: no other connection ever
sees the tables without them, and the record ends as the triggers would have left it.

The triggers are created with the DDL (``SqliteShadow.create``) and by
``repair --migrate``. Whenever one of them is (re)created, the database gets a new
``change_epoch`` in ``shadow_audit_meta``: changes made while a trigger was missing
cannot be listed, so an incremental audit that sees a new epoch audits in full.
"""

from __future__ import annotations

import sqlite3
import uuid
from collections.abc import Collection, Iterable, Iterator
from contextlib import contextmanager

from shadow_audit.mapping import DocumentMap, Entity, quote

CHANGES_TABLE = "shadow_audit_changes"
EPOCH_NAME = "change_epoch"
TRIGGER_PREFIX = "shadow_audit_change_"
CHANGES_DDL = (
    f"CREATE TABLE IF NOT EXISTS {CHANGES_TABLE} (unit TEXT PRIMARY KEY, seq INTEGER NOT NULL)",
    f"CREATE INDEX IF NOT EXISTS {CHANGES_TABLE}_seq ON {CHANGES_TABLE}(seq)",
)
_EVENTS = (
    ("ins", "INSERT", ("NEW",)),
    ("upd", "UPDATE", ("OLD", "NEW")),
    ("del", "DELETE", ("OLD",)),
)


def _note(unit: str, where: str = "1") -> str:
    """One upsert of a unit key (an empty key when it is NULL) with the next number."""
    return (
        f"INSERT INTO {CHANGES_TABLE} (unit, seq) SELECT coalesce({unit}, ''), "
        f"(SELECT coalesce(max(seq), 0) + 1 FROM {CHANGES_TABLE}) WHERE {where} "
        "ON CONFLICT (unit) DO UPDATE SET seq = excluded.seq;"
    )


def _orphan(link: str) -> str:
    return f"'<orphan ' || {link} || '>'"


def _unit_of(entity: Entity, mapping: DocumentMap, row: str) -> str:
    """The document key of ``row`` (NEW or OLD), as ``load_shadow`` keys the table's rows."""
    if entity.is_root:
        return f"{row}.{quote(entity.key_column or '')}"
    parent = mapping.entity(entity.parent or "")
    link = f"{row}.{quote(entity.link_column or '')}"
    return (
        f"coalesce((SELECT p.{quote(parent.key_column or '')} FROM {quote(parent.table)} p "
        f"WHERE p.{quote(entity.parent_column)} = {link}), {_orphan(link)})"
    )


def trigger_sql(mapping: DocumentMap) -> dict[str, str]:
    """Return the change-record triggers of a mapping, as ``sqlite_master`` keeps them.

    Args:
        mapping: the map of the tables.

    Returns:
        trigger name -> its ``CREATE TRIGGER`` statement.
    """
    out: dict[str, str] = {}
    for entity in mapping.entities:
        children = [c for c in mapping.entities if c.parent == entity.table]
        for suffix, event, rows in _EVENTS:
            body = [_note(_unit_of(entity, mapping, row)) for row in rows]
            links = sorted({c.parent_column for c in children}) if entity.is_root else []
            for row in rows:
                for column in links:  # its child rows become or stop being <orphan N>
                    moved = f"OLD.{quote(column)} IS NOT NEW.{quote(column)}"
                    link = f"{row}.{quote(column)}"
                    body.append(_note(_orphan(link), moved if event == "UPDATE" else "1"))
            name = f"{TRIGGER_PREFIX}{entity.table}_{suffix}"
            out[name] = (
                f"CREATE TRIGGER {quote(name)} AFTER {event} ON {quote(entity.table)} BEGIN\n  "
                + "\n  ".join(body)
                + "\nEND"
            )
    return out


def ensure_change_record(conn: sqlite3.Connection, mapping: DocumentMap) -> bool:
    """Create the change table and any trigger missing or different (inside the caller's
    transaction, if any); a new ``change_epoch`` when one was (re)created.

    Args:
        conn: a read-write connection; ``shadow_audit_meta`` exists.
        mapping: the map of the tables; triggers are made for the tables that exist.

    Returns:
        True when a trigger was created (the epoch changed).
    """
    for statement in CHANGES_DDL:
        conn.execute(statement)
    have = dict(conn.execute("SELECT name, sql FROM sqlite_master WHERE type = 'trigger'"))
    made = False
    for name, sql in _expected(conn, mapping).items():
        if have.get(name) == sql:
            continue
        conn.execute(f"DROP TRIGGER IF EXISTS {quote(name)}")
        conn.execute(sql)
        made = True
    if (
        made
        or conn.execute("SELECT 1 FROM shadow_audit_meta WHERE name = ?", (EPOCH_NAME,)).fetchone()
        is None
    ):
        conn.execute(
            "INSERT OR REPLACE INTO shadow_audit_meta (name, value) VALUES (?, ?)",
            (EPOCH_NAME, str(uuid.uuid4())),
        )
    return made


def note_units(conn: sqlite3.Connection, units: Iterable[str]) -> None:
    """Note units as written, in order, each with the next sequence number (as the
    triggers note them).

    Args:
        conn: a connection inside a write transaction.
        units: the unit keys (``<orphan N>`` included) to note.
    """
    top = conn.execute(f"SELECT coalesce(max(seq), 0) FROM {CHANGES_TABLE}").fetchone()[0]
    conn.executemany(
        f"INSERT INTO {CHANGES_TABLE} (unit, seq) VALUES (?, ?) "
        "ON CONFLICT (unit) DO UPDATE SET seq = excluded.seq",
        ((unit, seq) for seq, unit in enumerate(units, top + 1)),
    )


@contextmanager
def triggers_set_aside(conn: sqlite3.Connection, mapping: DocumentMap) -> Iterator[bool]:
    """Inside the caller's write transaction, drop the change-record triggers for the
    block and create them again after it, exactly as ``sqlite_master`` held them; the
    block notes what it wrote with ``note_units``.

    Only the mapping's own triggers, when every one of them is there and as the mapping
    makes them, are set aside: with any missing or altered (the record is not trusted
    then, and an incremental audit says so), they stay and fire as they are.

    Args:
        conn: a connection inside a write transaction (outside one, nothing is set aside).
        mapping: the map of the tables.

    Yields:
        Whether the triggers were set aside (the block must note its units then).
    """
    triggers = conn.execute("SELECT name, sql FROM sqlite_master WHERE type = 'trigger'")
    held = {name: sql for name, sql in triggers if name.startswith(TRIGGER_PREFIX)}
    if not conn.in_transaction or not held or held != _expected(conn, mapping):
        yield False
        return
    for name in held:
        conn.execute(f"DROP TRIGGER {quote(name)}")
    try:
        yield True
    finally:
        if conn.in_transaction:  # an error SQLite rolled back has brought them back already
            for sql in held.values():
                conn.execute(sql)


def _expected(conn: sqlite3.Connection, mapping: DocumentMap) -> dict[str, str]:
    tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    return expected_triggers(mapping, tables)


def expected_triggers(mapping: DocumentMap, tables: Collection[str]) -> dict[str, str]:
    """Return the change-record triggers a database with these tables should hold (a
    table the database does not have gets none).

    Args:
        mapping: the map of the tables.
        tables: the tables the database has.

    Returns:
        trigger name -> its ``CREATE TRIGGER`` statement, as ``trigger_sql`` gives it.
    """
    return {
        name: sql
        for name, sql in trigger_sql(mapping).items()
        # a trigger's name is the prefix, its table and the event
        if name[len(TRIGGER_PREFIX) :].rsplit("_", 1)[0] in tables
    }
