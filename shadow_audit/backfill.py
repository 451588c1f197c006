"""Backfill: import every valid source document that existed before dual write began.

Fast by construction (issue 11): units are read, parsed, validated (the compiled
checker says yes or no; jsonschema gives the reasons of a no) and projected into
rows on every core (``backfill_read``), and the rows of a whole batch are written in
one transaction (``stores.bulk``), which notes its units in the change record itself
(its triggers set aside meanwhile: ``stores.changes``). The tables and the record end
exactly as importing each unit with ``SqliteShadow.write`` would leave them, so a
second run changes nothing.

No per-unit file lock is taken: each unit's files are stat-ed before they are read,
and stat-ed again inside the batch's write transaction; a unit that changed in
between is read again there. The dual writer writes a document's JSON before its
SQLite rows, so a save either happened before that check (and is seen) or writes
its rows after this transaction commits: the older version never wins.
"""

from __future__ import annotations

import os
import sqlite3
from contextlib import closing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from shadow_audit.backfill_read import Batch, Skipped, UnitRead, UnitReader, read_batches
from shadow_audit.engine.load import gc_paused
from shadow_audit.errors import DatabaseError, SourceError, UsageError
from shadow_audit.mapping import DocumentMap
from shadow_audit.profiles import REFERENCE
from shadow_audit.progress import UNIT, Progress, begin_phase
from shadow_audit.stores.bulk import FlatChunk, TableLayout, import_units, table_layouts
from shadow_audit.stores.json_store import JsonStore
from shadow_audit.stores.sqlite_shadow import (
    DEFAULT_BUSY_TIMEOUT,
    SqliteShadow,
    legacy_key_loss,
)

BATCH = 500  # units per transaction
POOL_FROM = 2 * BATCH  # fewer units are read in this process (a pool costs its start-up)


@dataclass(frozen=True)
class BackfillResult:
    """What happened to each unit: imported, unchanged, partly imported, or skipped.

    ``imported`` units had rows written; ``unchanged`` units already matched the shadow;
    ``partial`` units were written without a companion document that is invalid (its
    rows are left as they were). ``skipped`` lists every document not imported.
    """

    units: int
    imported: int
    skipped: tuple[Skipped, ...]
    unchanged: int = 0
    partial: int = 0

    def to_dict(self) -> dict[str, Any]:
        """Return the result as plain data (JSON-ready)."""
        return {
            "units": self.units,
            "imported": self.imported,
            "unchanged": self.unchanged,
            "partial": self.partial,
            "skipped": [
                {"path": s.path, "reasons": list(s.reasons), "fix": s.fix} for s in self.skipped
            ],
        }


def open_stores(
    source: JsonStore | Path | str,
    shadow: SqliteShadow | Path | str,
    mapping: DocumentMap = REFERENCE,
) -> tuple[JsonStore, SqliteShadow]:
    """Return the two stores for paths (objects are passed through), the shadow created
    when new.

    Args:
        source: the JSON store or its folder.
        shadow: the SQLite shadow or its file; a new file gets the mapping's DDL.
        mapping: the map used for paths.

    Returns:
        (JSON store, SQLite shadow).

    Raises:
        DatabaseError: the shadow file exists but is not an SQLite database, cannot be
            created, or refuses a write (locked, read-only).
    """
    store = source if isinstance(source, JsonStore) else JsonStore(source, mapping)
    if isinstance(shadow, SqliteShadow):
        return store, shadow
    try:
        return store, SqliteShadow(shadow, store.mapping)
    except sqlite3.OperationalError as exc:  # locked, read-only, full: SQLite all the same
        raise cannot_write(shadow, exc, DEFAULT_BUSY_TIMEOUT) from exc
    except sqlite3.DatabaseError as exc:
        raise DatabaseError(f"database {shadow}: cannot open as SQLite: {exc}") from exc
    except OSError as exc:
        raise DatabaseError(f"database {shadow}: cannot create: {exc.strerror}") from exc


def cannot_write(
    path: Path | str, exc: sqlite3.OperationalError, busy_timeout: float
) -> DatabaseError:
    """The error for a write the database refused as a whole (locked past the busy
    timeout, read-only, full, an I/O error): the run's, not a unit's.

    Args:
        path: the database file.
        exc: SQLite's error.
        busy_timeout: how long a write waited for another connection's lock, in seconds.

    Returns:
        One line naming the file and the cause.
    """
    reason = str(exc)
    if "locked" in reason or "busy" in reason:
        held = f"another connection held it for longer than the busy timeout, {busy_timeout:g} s"
        reason += f" ({held})"
    return DatabaseError(f"database {path}: cannot write: {reason}")


def backfill(
    store: JsonStore | Path | str,
    shadow: SqliteShadow | Path | str,
    *,
    mapping: DocumentMap = REFERENCE,
    progress: Progress | None = None,
    workers: int | None = None,
    batch: int = BATCH,
    migrate: bool = False,
    require_units: bool = False,
) -> BackfillResult:
    """Import every unit, ``batch`` units per transaction; running it twice changes nothing.

    An invalid primary document skips its unit; an invalid companion is skipped alone
    (the unit counts as ``partial``). A key already imported from another unit is skipped.
    A kill at any moment leaves whole batches written; running it again completes it.

    Args:
        store: the JSON store, or its folder.
        shadow: the SQLite shadow, or its file (created when new).
        mapping: the map, when ``store`` is a folder.
        progress: ticked as units are written (phase ``"backfill"``, with the unit count).
        workers: processes that read and project (default: the cores, at most 2, for
            stores of ``POOL_FROM`` units or more; 1 reads in this process).
        batch: units per write transaction.
        migrate: first bring the database to the mapping's DDL (``SqliteShadow.migrate``).
        require_units: refuse a source folder that holds no unit (the CLI does: a typo in
            ``--source`` would look like a successful import of nothing).

    Returns:
        The counts and every skipped document with its reasons.

    Raises:
        SourceError: the source folder cannot be read, or holds no unit and
            ``require_units`` is set (no database is made then).
        DatabaseError: the shadow is not an SQLite database, or it keys a table by a
            legacy key (the reference's v2: no position column) and ``migrate`` is False,
            or it refuses a write (locked past its busy timeout, read-only, full): the
            batches before stay written.
        UsageError: ``batch`` or ``workers`` is below 1.
    """
    if batch < 1 or (workers is not None and workers < 1):
        raise UsageError(f"backfill: batch ({batch}) and workers ({workers}) must be >= 1")
    source = store if isinstance(store, JsonStore) else JsonStore(store, mapping)
    units = source.units()  # a source folder that is not there makes no database
    if not units and require_units:  # a typo in the folder: no empty database made either
        pattern = source.mapping.primary.pattern
        raise SourceError(f"source folder {source.root}: no {pattern} in it; nothing imported")
    source, db = open_stores(source, shadow, mapping)
    if migrate:
        db.migrate()
    layouts = _whole_layouts(db, source.root)
    tick = begin_phase(progress, "backfill", total=len(units), unit=UNIT)
    reader = UnitReader(source, layouts)
    if workers is None:
        workers = min(2, os.cpu_count() or 1) if len(units) >= POOL_FROM else 1
    tally = _Tally()
    with gc_paused(), closing(read_batches(reader, units, workers=workers, batch=batch)) as reads:
        first = next(reads, None)  # the pool forks before the write connection opens
        with db.connection() as conn:
            _tune(conn)
            while first is not None:
                _write_batch(db, conn, reader, first, tally)
                if tick:
                    tick(len(first.reads))
                first = next(reads, None)
    return BackfillResult(
        units=len(units),
        imported=tally.imported,
        skipped=tuple(tally.skipped),
        unchanged=tally.unchanged,
        partial=tally.partial,
    )


def _whole_layouts(db: SqliteShadow, source: Path) -> tuple[TableLayout, ...]:
    """The tables as the database holds them, refused when one would lose rows: keyed by
    a legacy key (no position column), a list whose legacy keys repeat cannot fit."""
    with db.connection() as conn:
        layouts = table_layouts(db, conn)
    for table in layouts:
        mapped = db.mapping.entity(table.entity.table)
        if table.entity.key_column != mapped.key_column:
            problem = legacy_key_loss(db.path, mapped).replace("DIR", str(source))
            raise DatabaseError(f"{problem}, or backfill --migrate")
    return layouts


def _tune(conn: sqlite3.Connection) -> None:
    """Settings of the backfill's own connection, none kept in the database file: WAL
    commits without a sync each (a crash still leaves whole transactions; a power cut may
    lose the last few, which a second run writes again), a larger page cache, temporary
    tables in memory, and no foreign-key lookups per row
    (``import_units`` attaches every child row to the root row it has just found or
    written, and never deletes a root row). The journal mode stays WAL, as the writer has
    it."""
    conn.execute("PRAGMA synchronous = NORMAL")
    conn.execute("PRAGMA cache_size = -65536")
    conn.execute("PRAGMA temp_store = MEMORY")
    conn.execute("PRAGMA foreign_keys = OFF")


@dataclass
class _Tally:
    imported: int = 0
    unchanged: int = 0
    partial: int = 0
    skipped: list[Skipped] = field(default_factory=list)
    seen: dict[str, str] = field(default_factory=dict)  # key -> the primary it came from

    def count(self, read: UnitRead, changed: bool) -> None:
        if read.problems:
            self.partial += 1
        elif changed:
            self.imported += 1
        else:
            self.unchanged += 1


def _write_batch(
    db: SqliteShadow, conn: sqlite3.Connection, reader: UnitReader, batch: Batch, tally: _Tally
) -> None:
    """One transaction for the batch; should it fail, one per unit (a failing unit is
    reported and the others written, as when each unit had its own)."""
    reads = batch.reads
    notes: list[list[Skipped]] = [list(read.problems) for _, read in reads]
    todo: list[int] = []
    for i, (unit, read) in enumerate(reads):
        if read.key is None:
            continue
        first = tally.seen.setdefault(read.key, str(unit.primary))
        if first != str(unit.primary):
            reason = f"duplicate key {read.key!r}: already imported from {first}"
            notes[i] = [*read.problems, Skipped(str(unit.primary), (reason,))]
            continue
        todo.append(i)
    try:
        with db.transaction(conn):
            written = _import(db, conn, reader, batch, todo, notes)
    except sqlite3.OperationalError as exc:  # the database's failure, no unit's: stop
        raise _stopped(db, exc) from exc
    except Exception:  # the batch is rolled back: write its units one by one
        written = []
        for i in todo:
            try:
                with db.transaction(conn):
                    written += _import(db, conn, reader, batch, [i], notes)
            except sqlite3.OperationalError as exc:
                raise _stopped(db, exc) from exc
            except Exception as exc:  # reported per unit; the backfill goes on
                reason = f"shadow write failed: {type(exc).__name__}: {exc}"
                notes[i] = [*notes[i], Skipped(str(reads[i][0].primary), (reason,))]
    for read, changed in written:
        tally.count(read, changed)
    for found in notes:
        tally.skipped += found


def _stopped(db: SqliteShadow, exc: sqlite3.OperationalError) -> DatabaseError:
    """A write refused midway: the batches before it stay, a second run completes it."""
    error = cannot_write(db.path, exc, db.busy_timeout)
    return DatabaseError(f"{error}; the batches before are written: run backfill again")


def _import(
    db: SqliteShadow,
    conn: sqlite3.Connection,
    reader: UnitReader,
    batch: Batch,
    todo: list[int],
    notes: list[list[Skipped]],
) -> list[tuple[UnitRead, bool]]:
    """Inside the write transaction: read again each unit whose files changed since it
    was read, then write them all."""
    ready: list[tuple[int | None, UnitRead]] = []  # (index in the batch: None when read again)
    for i in todo:
        unit, read = batch.reads[i]
        if reader.signature(unit) != read.signature:
            again = reader.read(unit)
            notes[i] = list(again.problems)
            if again.key != read.key:
                if again.key is not None:
                    reason = f"changed while read: its key {read.key!r} is now {again.key!r}"
                    notes[i].append(Skipped(str(unit.primary), (reason + "; run again",)))
                continue
            ready.append((None, again))
            continue
        ready.append((i, read))
    units = [(str(read.key), read.tables) for _, read in ready]
    flat = None if batch.flat is None else FlatChunk(batch.flat, tuple(i for i, _ in ready))
    changed = import_units(db, conn, layouts=reader.layouts, units=units, flat=flat)
    return [(read, did) for (_, read), did in zip(ready, changed, strict=True)]
