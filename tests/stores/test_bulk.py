"""``insert_all``: many rows per statement, ids and AUTOINCREMENT state as one by one."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from shadow_audit.stores.bulk import insert_all

DDL = """
CREATE TABLE t (id INTEGER PRIMARY KEY AUTOINCREMENT, a TEXT NOT NULL, b INTEGER,
                UNIQUE (a));
"""


def _db(path: Path, *, parameters: int | None = None) -> sqlite3.Connection:
    conn = sqlite3.connect(path, isolation_level=None)
    conn.executescript(DDL)
    if parameters is not None:
        conn.setlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER, parameters)
    # a deleted row leaves the sequence above max(id): new ids continue after it
    conn.execute("INSERT INTO t (a, b) VALUES ('gone', 0)")
    conn.execute("DELETE FROM t")
    return conn


@pytest.mark.parametrize("parameters", [None, 5, 2])
def test_ids_and_sequence_are_those_of_one_by_one(tmp_path: Path, parameters: int | None) -> None:
    rows = [(f"k{i}", i if i % 3 else None) for i in range(23)]
    bulk = _db(tmp_path / "bulk.db", parameters=parameters)
    bulk.execute("BEGIN")
    insert_all(bulk, "t", ['"a"', '"b"'], rows)
    bulk.execute("COMMIT")
    one = _db(tmp_path / "one.db")
    for row in rows:
        one.execute("INSERT INTO t (a, b) VALUES (?, ?)", row)
    for sql in ("SELECT * FROM t ORDER BY id", "SELECT * FROM sqlite_sequence"):
        assert bulk.execute(sql).fetchall() == one.execute(sql).fetchall()
    assert bulk.execute("SELECT min(id), count(*) FROM t").fetchone() == (2, 23)


def test_no_rows_writes_nothing(tmp_path: Path) -> None:
    conn = _db(tmp_path / "x.db")
    insert_all(conn, "t", ['"a"', '"b"'], [])
    assert conn.execute("SELECT count(*) FROM t").fetchone() == (0,)


def test_a_failing_row_inserts_none_of_its_statement(tmp_path: Path) -> None:
    conn = _db(tmp_path / "x.db")
    conn.execute("BEGIN")
    with pytest.raises(sqlite3.IntegrityError):
        insert_all(conn, "t", ['"a"', '"b"'], [("same", 1), ("same", 2)])
    assert conn.execute("SELECT count(*) FROM t").fetchone() == (0,)
    conn.execute("ROLLBACK")


# --- import_units from flat rows (as the backfill's workers send them) --------------------


def _flat(layouts, reads) -> tuple:
    """Each child table's rows of the units, flat as ``FlatRows`` documents them."""
    from shadow_audit.stores.bulk import FlatRows

    out = []
    for at, table in enumerate(layouts):
        entity = table.entity
        if entity.is_root:
            out.append(None)
            continue
        keyed = bool(entity.key_column)
        counts, flat = [], []
        for unit, read in enumerate(reads):
            rows = read.tables[at] if read.key is not None else None
            counts.append(None if rows is None else len(rows))
            for key, values in rows or ():
                flat += [unit, *([key] if keyed else []), *values, *[None] * len(table.fills)]
        out.append(FlatRows(table.flat_width, keyed, len(table.fills), counts, flat))
    return tuple(out)


def test_flat_rows_given_again_after_a_rollback_attach_to_the_right_mission(tmp_path: Path):
    """The backfill writes a failed batch again unit by unit from the same flat rows (a
    batch may fail at COMMIT, e.g. the disk full): ``import_units`` must leave them as
    given, so the second time the rows still go to their own unit's mission."""
    from shadow_audit.backfill_read import UnitReader
    from shadow_audit.stores.bulk import FlatChunk, import_units, table_layouts
    from shadow_audit.stores.json_store import JsonStore
    from shadow_audit.stores.sqlite_shadow import SqliteShadow
    from tests.reference_growth import write_reference_store

    write_reference_store(tmp_path / "src", [4, 0], seed=2)  # a memory, then none
    store = JsonStore(tmp_path / "src")
    shadow = SqliteShadow(tmp_path / "s.db")
    with shadow.connection() as conn:
        layouts = table_layouts(shadow, conn)
        reads = [UnitReader(store, layouts).read(u) for u in store.units()]
        tables = _flat(layouts, reads)
        units = [(str(r.key), r.tables) for r in reads]
        conn.execute("BEGIN IMMEDIATE")  # the batch: written, then rolled back
        import_units(shadow, conn, layouts=layouts, units=units, flat=FlatChunk(tables, (0, 1)))
        conn.execute("ROLLBACK")
        for i in (0, 1):  # again, one unit per transaction, in order
            with shadow.transaction(conn):
                chunk = FlatChunk(tables, (i,))
                import_units(shadow, conn, layouts=layouts, units=[units[i]], flat=chunk)
        got = conn.execute(
            "SELECT m.mission_uuid, count(*) FROM session_narrative n "
            "JOIN missions m ON m.id = n.mission_id GROUP BY m.mission_uuid"
        ).fetchall()
    assert got == [(units[0][0], len(units[0][1][1]))]
