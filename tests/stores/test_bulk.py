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
