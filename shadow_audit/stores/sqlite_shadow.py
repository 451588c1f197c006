"""The shadow: SQLite tables made from the mapping, an idempotent upsert, read-only reads."""

from __future__ import annotations

import os
import sqlite3
import uuid
from collections.abc import Iterator
from collections.abc import Mapping as MappingABC
from contextlib import closing, contextmanager
from pathlib import Path
from typing import Any

from shadow_audit.clock import utc_stamp
from shadow_audit.errors import DatabaseError
from shadow_audit.mapping import (
    POSITION,
    SQL_TYPES,
    DocumentMap,
    Entity,
    Field,
    iter_rows,
    quote,
)
from shadow_audit.profiles import REFERENCE
from shadow_audit.stores.changes import ensure_change_record

DEFAULT_BUSY_TIMEOUT = 5.0
IDENTITY_TABLE = "shadow_audit_meta"
IDENTITY_DDL = (
    f"CREATE TABLE IF NOT EXISTS {IDENTITY_TABLE} (name TEXT PRIMARY KEY, value TEXT NOT NULL)"
)


def ensure_identity(conn: sqlite3.Connection) -> None:
    """Give the database a UUID of its own (kept forever, whatever the file is called).

    Args:
        conn: a read-write connection; the identity table is created when missing.
    """
    conn.execute(IDENTITY_DDL)
    conn.execute(
        f"INSERT OR IGNORE INTO {IDENTITY_TABLE} (name, value) VALUES ('database_id', ?)",
        (str(uuid.uuid4()),),
    )


def shadow_identity(path: Path | str) -> str:
    """Return what the database is, not where it is.

    ``uuid:<id>`` from its ``shadow_audit_meta`` table; for a database this project did
    not create (e.g. the reference system's v2, which the read-only audit must not
    change) ``file:<device>:<inode>``, which a rename keeps and a replaced or copied
    file does not.

    Args:
        path: the SQLite file.

    Returns:
        The identity.

    Raises:
        DatabaseError: the file is missing or not SQLite.
    """
    with closing(connect_readonly(path)) as conn:
        try:
            row = conn.execute(
                f"SELECT value FROM {IDENTITY_TABLE} WHERE name = 'database_id'"
            ).fetchone()
        except sqlite3.OperationalError:
            row = None
    if row is not None:
        return f"uuid:{row[0]}"
    st = os.stat(path)
    return f"file:{st.st_dev}:{st.st_ino}"


def _column_ddl(fld: Field) -> str:
    parts = [quote(fld.column), SQL_TYPES[fld.type]]
    if fld.not_null:
        parts.append("NOT NULL")
    if fld.choices:
        allowed = ", ".join("'" + c.replace("'", "''") + "'" for c in fld.choices)
        parts.append(f"CHECK ({quote(fld.column)} IN ({allowed}))")
    return " ".join(parts)


def entity_ddl(entity: Entity, mapping: DocumentMap) -> list[str]:
    """Return the CREATE statements for one table (and its index).

    Args:
        entity: the table.
        mapping: the map it belongs to (for its parent table).

    Returns:
        The statements, without a final ``;``.
    """
    t = quote(entity.table)
    cols = ['"id" INTEGER PRIMARY KEY AUTOINCREMENT']
    unique: list[str] = []
    if entity.is_root:
        cols.append(f"{quote(entity.key_column or 'key')} TEXT NOT NULL UNIQUE")
    else:
        parent = mapping.entity(entity.parent or "")
        link_type = "INTEGER" if entity.parent_column == "id" else "TEXT"
        cols.append(
            f"{quote(entity.link_column or '')} {link_type} NOT NULL REFERENCES "
            f"{quote(parent.table)}({quote(entity.parent_column)}) ON DELETE CASCADE"
        )
        unique.append(quote(entity.link_column or ""))
        if entity.key_column:
            cols.append(f"{quote(entity.key_column)} {SQL_TYPES[entity.key_type]} NOT NULL")
            unique.append(quote(entity.key_column))
    cols += [_column_ddl(f) for f in entity.fields]
    if unique:
        cols.append(f"UNIQUE ({', '.join(unique)})")
    body = ",\n    ".join(cols)
    stmts = [f"CREATE TABLE IF NOT EXISTS {t} (\n    {body}\n)"]
    if not entity.is_root:
        index = quote(f"idx_{entity.table}_{entity.link_column}")
        stmts.append(
            f"CREATE INDEX IF NOT EXISTS {index} ON {t}({quote(entity.link_column or '')})"
        )
    return stmts


def schema_sql(mapping: DocumentMap = REFERENCE) -> str:
    """Return the whole DDL for a mapping, as one script.

    Args:
        mapping: the map (default: the built-in reference profile).

    Returns:
        The script, every statement ending with ``;``.
    """
    return ";\n".join(s for e in mapping.entities for s in entity_ddl(e, mapping)) + ";\n"


def table_columns(conn: sqlite3.Connection, table: str) -> list[str]:
    """Return a table's column names, in table order (empty when there is no such table).

    Args:
        conn: any connection to the database.
        table: the table name.

    Returns:
        The names.
    """
    return [row[1] for row in conn.execute(f"PRAGMA table_info({quote(table)})")]


def connect_readonly(path: Path | str) -> sqlite3.Connection:
    """Open a read-only connection (``mode=ro``, ``query_only``).

    Args:
        path: the SQLite file.

    Returns:
        The connection; the caller closes it.

    Raises:
        DatabaseError: the file is missing or not SQLite.
    """
    p = Path(path)
    if not p.is_file():
        raise DatabaseError(f"database {p}: no such file")
    try:
        conn = sqlite3.connect(f"{p.resolve().as_uri()}?mode=ro", uri=True, timeout=10.0)
        conn.execute("PRAGMA query_only = ON")
        conn.execute("SELECT count(*) FROM sqlite_master").fetchone()
    except sqlite3.DatabaseError as exc:
        raise DatabaseError(f"database {p}: cannot read as SQLite: {exc}") from exc
    return conn


class SqliteShadow:
    """The SQLite copy of the documents, written through ``mapping``.

    WAL mode and a busy timeout; every save is one transaction that upserts the
    root row by its key and brings the child rows to exactly the document's
    (unchanged rows are left alone, so a repeated import changes nothing).
    """

    def __init__(
        self,
        path: Path | str,
        mapping: DocumentMap = REFERENCE,
        *,
        busy_timeout: float = DEFAULT_BUSY_TIMEOUT,
        create: bool = True,
    ) -> None:
        self.path = Path(path)
        self.mapping = mapping
        self.busy_timeout = busy_timeout
        self._columns: dict[str, set[str]] = {}
        self._schema_version: int | None = None
        if create:
            self.create()

    def create(self) -> None:
        """Create the database file and any missing table."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with closing(self._open(create=True)) as conn:
            conn.executescript(schema_sql(self.mapping))
            conn.execute("BEGIN IMMEDIATE")  # no write may slip between a trigger's drop and create
            ensure_identity(conn)
            ensure_change_record(conn, self.mapping)
            conn.execute("COMMIT")

    def _open(self, *, create: bool = False) -> sqlite3.Connection:
        uri = f"{self.path.resolve().as_uri()}?mode={'rwc' if create else 'rw'}"
        conn = sqlite3.connect(uri, uri=True, timeout=self.busy_timeout, isolation_level=None)
        conn.execute(f"PRAGMA busy_timeout = {int(self.busy_timeout * 1000)}")
        conn.execute("PRAGMA journal_mode = WAL")
        conn.execute("PRAGMA foreign_keys = ON")
        return conn

    @contextmanager
    def connection(self) -> Iterator[sqlite3.Connection]:
        """A read-write connection to reuse across many transactions."""
        with closing(self._open()) as conn:
            yield conn

    @contextmanager
    def transaction(self, conn: sqlite3.Connection | None = None) -> Iterator[sqlite3.Connection]:
        """Run one write transaction (BEGIN IMMEDIATE ... COMMIT, ROLLBACK on error).

        Args:
            conn: a connection to use (see ``connection``); default: a new one, closed after.

        Yields:
            The connection, inside the transaction.
        """
        if conn is None:
            with self.connection() as own, self.transaction(own) as tx:
                yield tx
            return
        conn.execute("BEGIN IMMEDIATE")
        try:
            yield conn
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")

    def columns(self, conn: sqlite3.Connection, table: str) -> set[str]:
        """Return the table's columns, cached until the schema changes (another process migrates).

        Args:
            conn: a connection to this database.
            table: the table name.

        Returns:
            The column names.
        """
        version = conn.execute("PRAGMA schema_version").fetchone()[0]
        if version != self._schema_version:
            self._columns.clear()
            self._schema_version = version
        if table not in self._columns:
            self._columns[table] = set(table_columns(conn, table))
        return self._columns[table]

    def as_stored(self, conn: sqlite3.Connection, entity: Entity) -> Entity:
        """Return the table as this database keys it.

        A database without the position column (the reference system's v2) keys the rows
        by the entity's ``legacy_key``.

        Args:
            conn: a connection to this database.
            entity: the table as the mapping describes it.

        Returns:
            ``entity`` itself, or its legacy-keyed form.
        """
        if entity.legacy_key is None or entity.key_column is None:
            return entity
        present = self.columns(conn, entity.table)
        if entity.key_column in present or entity.legacy_key[0] not in present:
            return entity
        return entity.keyed_by_legacy()

    def import_manifest(
        self, manifest: MappingABC[str, Any], memory: MappingABC[str, Any] | None = None
    ) -> int:
        """Idempotently import a manifest (and its memory) in one transaction.

        Args:
            manifest: the primary document.
            memory: its companion, if any.

        Returns:
            The root row's id.
        """
        documents: dict[str, MappingABC[str, Any]] = {self.mapping.primary.name: manifest}
        if memory is not None:
            documents[self.mapping.companions[0].name] = memory
        key = self.mapping.primary.key_of(manifest)
        with self.transaction() as conn:
            return self.write(conn, str(key), documents)

    def write(
        self,
        conn: sqlite3.Connection,
        key: str,
        documents: MappingABC[str, MappingABC[str, Any]],
        *,
        complete: bool = False,
        root_id: int | None = None,
    ) -> int:
        """Write every table fed by ``documents`` for ``key`` inside an open transaction.

        Args:
            conn: a connection inside an open write transaction.
            key: the unit's key (the root row's key column).
            documents: {document name: document} to write.
            complete: ``documents`` is the whole unit, so the rows of a document that is
                absent are deleted (backfill and repair); a partial save leaves them alone.
            root_id: attach the child rows to this root row (the reference's
                ``save(memory, mission_id=N)``) instead of the row found by ``key``.

        Returns:
            The root row's id (-1 when there is none).

        Raises:
            DatabaseError: a child row has no root row to belong to.
        """
        root = self.mapping.root
        ids: dict[str, Any] = {}
        if root_id is not None and root.document not in documents:
            ids[root.table] = root_id
        elif root.document in documents:
            ids[root.table] = self._upsert_root(conn, root, key, documents[root.document])
        else:
            ids[root.table] = self._root_id(conn, root, key)
        for entity in self.mapping.entities:
            if entity.is_root or (entity.document not in documents and not complete):
                continue
            parent = self.mapping.entity(entity.parent or "")
            link = ids.get(parent.table)
            if entity.parent_column != "id":
                link = key
            if link is None:
                raise DatabaseError(f"table {entity.table}: no {parent.table} row for {key!r}")
            self._replace_children(conn, entity, link, documents.get(entity.document))
        return int(ids[root.table]) if ids[root.table] is not None else -1

    def _root_id(self, conn: sqlite3.Connection, root: Entity, key: str) -> Any:
        row = conn.execute(
            f"SELECT id FROM {quote(root.table)} WHERE {quote(root.key_column or '')} = ?", (key,)
        ).fetchone()
        return None if row is None else row[0]

    def _upsert_root(
        self, conn: sqlite3.Connection, root: Entity, key: str, document: MappingABC[str, Any]
    ) -> int:
        """Insert, update, or leave alone: an unchanged row is not written at all."""
        present = self.columns(conn, root.table)
        fields = tuple(f for f in root.projected_fields if f.column in present)
        _, values = next(iter_rows(root, document, fields))
        t, kc = quote(root.table), quote(root.key_column or "")
        cols = [quote(f.column) for f in fields]
        row = conn.execute(
            f"SELECT {', '.join(['id', *cols])} FROM {t} WHERE {kc} = ?", (key,)
        ).fetchone()
        if row is None:
            names = [kc, *cols]
            cur = conn.execute(
                f"INSERT INTO {t} ({', '.join(names)}) VALUES ({', '.join('?' * len(names))})",
                (key, *values),
            )
            return int(cur.lastrowid or 0)
        if tuple(row[1:]) != values:
            sets = ", ".join(f"{c} = ?" for c in cols)
            conn.execute(f"UPDATE {t} SET {sets} WHERE id = ?", (*values, row[0]))
        return int(row[0])

    def _replace_children(
        self,
        conn: sqlite3.Connection,
        entity: Entity,
        link: Any,
        document: MappingABC[str, Any] | None,
    ) -> None:
        """Make the rows of ``entity`` under ``link`` those of ``document``; an absent
        document (a unit written complete without it) has none: its rows are deleted."""
        mapped, entity = entity, self.as_stored(conn, entity)
        present = self.columns(conn, entity.table)
        fields = tuple(f for f in entity.projected_fields if f.column in present)
        fills = [f for f in entity.fields if f.fill and f.column in present]
        t, lc = quote(entity.table), quote(entity.link_column or "")
        kc = quote(entity.key_column) if entity.key_column else None
        value_cols = [quote(f.column) for f in fields]
        select_key = kc or "NULL"
        existing = {
            row[0]: tuple(row[1:])
            for row in conn.execute(
                f"SELECT {', '.join([select_key, *value_cols])} FROM {t} WHERE {lc} = ?", (link,)
            )
        }
        rows = [] if document is None else list(iter_rows(entity, document, fields))
        wanted = dict(rows)
        if len(wanted) != len(rows) and entity is not mapped:  # repeated legacy keys
            raise DatabaseError(legacy_key_loss(self.path, mapped))
        key_where = f" AND {kc} = ?" if kc else ""
        for gone in existing.keys() - wanted.keys():
            conn.execute(f"DELETE FROM {t} WHERE {lc} = ?{key_where}", (link, *_k(kc, gone)))
        stamp = utc_stamp()
        fill_values = [stamp for _ in fills]
        for child_key, values in wanted.items():
            if child_key in existing:
                if existing[child_key] == values:
                    continue
                sets = ", ".join(
                    f"{c} = ?" for c in [*value_cols, *(quote(f.column) for f in fills)]
                )
                conn.execute(
                    f"UPDATE {t} SET {sets} WHERE {lc} = ?{key_where}",
                    (*values, *fill_values, link, *_k(kc, child_key)),
                )
                continue
            names = [lc, *([kc] if kc else []), *value_cols, *(quote(f.column) for f in fills)]
            conn.execute(
                f"INSERT INTO {t} ({', '.join(names)}) VALUES ({', '.join('?' * len(names))})",
                (link, *_k(kc, child_key), *values, *fill_values),
            )

    def migrate(self) -> list[str]:
        """Bring an existing database (e.g. the reference system's v2) to this mapping's DDL.

        A table whose definition differs (missing columns, narrower CHECKs) is rebuilt
        and its rows copied, in one transaction; the user's views, triggers and indexes
        are recreated after the rebuild. One that no longer fits (it names a column the
        rebuild drops) makes the whole migration roll back, naming it. The database also
        gets its identity (``shadow_audit_meta``) when it has none.

        Returns:
            The tables rebuilt.

        Raises:
            DatabaseError: an object cannot be kept, or references would break.
        """
        rebuilt: list[str] = []
        with closing(self._open()) as conn:
            conn.execute("PRAGMA foreign_keys = OFF")
            # rename must not rewrite the user's views and triggers to the old table's name
            conn.execute("PRAGMA legacy_alter_table = ON")
            conn.execute("BEGIN IMMEDIATE")
            try:
                stale = [e for e in self.mapping.entities if self._differs(conn, e)]
                kept = _user_objects(conn, {e.table for e in stale}) if stale else []
                for name, kind, _ in kept:
                    if kind == "view":  # dropping a view drops its INSTEAD OF triggers too
                        conn.execute(f"DROP VIEW IF EXISTS {quote(name)}")
                for entity in self.mapping.entities:
                    if self._rebuild(conn, entity, rebuild=entity in stale):
                        rebuilt.append(entity.table)
                _recreate(conn, kept, self.path)
                ensure_identity(conn)
                ensure_change_record(conn, self.mapping)
                problems = conn.execute("PRAGMA foreign_key_check").fetchall()
                if problems:
                    raise DatabaseError(
                        f"database {self.path}: migration would break {len(problems)} references"
                    )
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")
        self._columns.clear()
        return rebuilt

    def _differs(self, conn: sqlite3.Connection, entity: Entity) -> bool:
        create = entity_ddl(entity, self.mapping)[0]
        wanted = create.replace("CREATE TABLE IF NOT EXISTS", "CREATE TABLE", 1)
        row = conn.execute(
            "SELECT sql FROM sqlite_master WHERE type = 'table' AND name = ?", (entity.table,)
        ).fetchone()
        return row is not None and row[0] != wanted

    def _rebuild(self, conn: sqlite3.Connection, entity: Entity, *, rebuild: bool) -> bool:
        create, *indexes = entity_ddl(entity, self.mapping)
        exists = conn.execute(
            "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?", (entity.table,)
        ).fetchone()
        if exists is None:
            conn.execute(create)
        elif not rebuild:
            return False
        else:
            # the generalized ALTER TABLE of the SQLite manual: new table, copy, drop, rename
            t = quote(entity.table)
            tmp = f"{entity.table}__shadow_audit_new"
            conn.execute(create.replace(f"IF NOT EXISTS {t}", quote(tmp), 1))
            new_cols = set(table_columns(conn, tmp))
            old_cols = table_columns(conn, entity.table)
            lost = [c for c in old_cols if c not in new_cols]
            if lost:
                raise DatabaseError(
                    f"database {self.path}: migration refused, nothing changed: the column "
                    f"{entity.table}.{lost[0]} is not in the mapping (add it, or drop it first)"
                )
            targets = [quote(c) for c in old_cols]
            sources = list(targets)
            for column, order in _positions_to_fill(entity, old_cols):  # list positions gained
                targets.append(quote(column))
                sources.append(
                    f"ROW_NUMBER() OVER (PARTITION BY {quote(entity.link_column or '')} "
                    f"ORDER BY {order}) - 1"
                )
            conn.execute(
                f"INSERT INTO {quote(tmp)} ({', '.join(targets)}) "
                f"SELECT {', '.join(sources)} FROM {t}"
            )
            conn.execute(f"DROP TABLE {t}")
            conn.execute(f"ALTER TABLE {quote(tmp)} RENAME TO {t}")
        for index in indexes:
            conn.execute(index)
        return True

    def delete(self, conn: sqlite3.Connection, key: str) -> None:
        """Remove a unit's rows (children first, for databases without cascades).

        Args:
            conn: a connection inside an open write transaction.
            key: the unit's key; a key with no root row changes nothing.
        """
        root = self.mapping.root
        row_id = self._root_id(conn, root, key)
        if row_id is None:
            return
        for entity in reversed(self.mapping.entities):
            if entity.is_root:
                continue
            link = row_id if entity.parent_column == "id" else key
            conn.execute(
                f"DELETE FROM {quote(entity.table)} WHERE {quote(entity.link_column or '')} = ?",
                (link,),
            )
        conn.execute(f"DELETE FROM {quote(root.table)} WHERE id = ?", (row_id,))


def legacy_key_loss(path: Path, entity: Entity) -> str:
    """Why a table the database keys by its legacy key (it lacks the position column, as
    the reference system's v2 does) cannot hold a list whose legacy keys repeat.

    Args:
        path: the database.
        entity: the table as the mapping describes it (with its ``legacy_key``).

    Returns:
        One line naming the table and the command that makes it whole.
    """
    legacy = entity.legacy_key[0] if entity.legacy_key else "legacy key"
    return (
        f"database {path}: table {entity.table} has no {entity.key_column} column (the "
        f"reference system's v2 schema), so rows whose {legacy} repeats would be lost; "
        f"run `shadow-audit repair --migrate --shadow {path} "
        "--source DIR --execute` first"
    )


def _positions_to_fill(entity: Entity, old_columns: list[str]) -> list[tuple[str, str]]:
    """List positions a table gains in a migration, each with the order that gives them:
    the legacy key (session numbers), then insertion order."""
    if entity.is_root or entity.link_column is None:
        return []
    fill = []
    legacy = entity.legacy_key[0] if entity.legacy_key else None
    if entity.key_path == POSITION and entity.key_column not in old_columns:
        order = f"{quote(legacy)}, id" if legacy in old_columns and legacy else "id"
        fill.append((entity.key_column or "", order))
    order_field = entity.order_field
    if order_field is not None and order_field.column not in old_columns:
        fill.append((order_field.column, "id"))
    return fill


def _k(key_column: str | None, child_key: Any) -> tuple[Any, ...]:
    return (child_key,) if key_column else ()


def _user_objects(conn: sqlite3.Connection, tables: set[str]) -> list[tuple[str, str, str]]:
    """(name, type, sql) of what a rebuild of ``tables`` would drop: every view, and the
    triggers and explicit indexes of those tables (views first, so triggers can name them)."""
    rows = conn.execute(
        "SELECT name, type, sql, tbl_name FROM sqlite_master WHERE sql IS NOT NULL "
        "AND type IN ('view', 'trigger', 'index') ORDER BY type = 'trigger', type = 'index', rowid"
    ).fetchall()
    views = {name for name, kind, _, _ in rows if kind == "view"}
    return [
        (name, kind, sql)
        for name, kind, sql, table in rows
        if kind == "view" or table in tables or table in views
    ]


def _recreate(conn: sqlite3.Connection, kept: list[tuple[str, str, str]], path: Path) -> None:
    """Create again each kept object the rebuild dropped; one that no longer fits stops all."""
    for name, kind, sql in kept:
        present = conn.execute(
            "SELECT 1 FROM sqlite_master WHERE type = ? AND name = ?", (kind, name)
        ).fetchone()
        if present:
            continue
        try:
            conn.execute(sql)
            if kind == "view":
                conn.execute(f"SELECT * FROM {quote(name)} LIMIT 0").fetchall()
        except sqlite3.DatabaseError as exc:
            raise DatabaseError(
                f"database {path}: migration refused, nothing changed: the {kind} {name!r} "
                f"cannot be kept after the rebuild ({exc})"
            ) from exc
