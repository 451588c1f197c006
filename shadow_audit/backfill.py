"""Backfill: import every valid source document that existed before dual write began.

Fast by construction (issue 11): units are read, parsed, validated (the compiled
checker says yes or no; jsonschema gives the reasons of a no) and projected into
compact rows on every core, and the rows of a whole batch are written in one
transaction (``stores.bulk``). The tables end exactly as importing each unit with
``SqliteShadow.write`` would leave them, so a second run changes nothing.

No per-unit file lock is taken: each unit's files are stat-ed before they are read,
and stat-ed again inside the batch's write transaction; a unit that changed in
between is read again there. The dual writer writes a document's JSON before its
SQLite rows, so a save either happened before that check (and is seen) or writes
its rows after this transaction commits: the older version never wins.
"""

from __future__ import annotations

import gc
import marshal
import os
import sqlite3
import stat
import threading
import time
from collections import deque
from collections.abc import Generator, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from contextlib import closing, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

from shadow_audit.engine.load import gc_paused
from shadow_audit.errors import DatabaseError, ShadowAuditError, UsageError
from shadow_audit.mapping import MISSING, POSITION, DocumentMap, Row
from shadow_audit.mapping.projection import compile_stored_projector
from shadow_audit.profiles import REFERENCE
from shadow_audit.progress import UNIT, Progress, begin_phase
from shadow_audit.stores.bulk import FlatChunk, FlatRows, TableLayout, import_units, table_layouts
from shadow_audit.stores.files import SafeReader
from shadow_audit.stores.json_store import JsonStore, SourceUnit
from shadow_audit.stores.sqlite_shadow import (
    DEFAULT_BUSY_TIMEOUT,
    SqliteShadow,
    legacy_key_loss,
)
from shadow_audit.validation import DOCUMENT_KINDS, is_valid, validate_document

BATCH = 500  # units per transaction
POOL_FROM = 2 * BATCH  # fewer units are read in this process (a pool costs its start-up)
ORPHAN_POLL = 0.5  # seconds between a worker's looks at whether its backfill still runs


@dataclass(frozen=True)
class Skipped:
    """A document that was not imported, and every reason why (the reasons do not repeat
    the path); ``fix``: what ``shadow-audit upgrade`` would do about a legacy shape."""

    path: str
    reasons: tuple[str, ...]
    fix: str | None = None


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


class UnitRead(NamedTuple):
    """One unit as read: its key (None: not importable), the stat signature of its files
    taken before reading, its rows per table (aligned with the reader's layouts; None for
    a table whose document was not read), and its problems."""

    key: str | None
    signature: tuple[Any, ...]
    tables: Sequence[list[Row] | None]
    problems: tuple[Skipped, ...]


class UnitReader:
    """Reads a unit's documents, validates them and projects them into the shadow's rows
    (as the shadow holds its tables: ``layouts``). Picklable: each worker gets one."""

    def __init__(self, store: JsonStore, layouts: Sequence[TableLayout]) -> None:
        self.store = store
        self.layouts = tuple(layouts)
        self.files = SafeReader(store.root)
        # (companion, place) for every place a companion may be, in the order looked at
        self._places = [(spec.name, p) for spec in store.mapping.companions for p in spec.locations]
        # (document name, projector of rows as the shadow stores them) per table
        self.projectors = [
            (table.entity.document, compile_stored_projector(table.entity, table.fields))
            for table in self.layouts
        ]

    def signature(self, unit: SourceUnit) -> tuple[Any, ...]:
        """What a change to any of the unit's files changes.

        Args:
            unit: the unit.

        Returns:
            Inode, size, mtime and ctime (None: absent) of the primary and of every
            place a companion may be.
        """
        primary = str(unit.primary)
        folder = os.path.dirname(primary)
        return (_stamp(primary), *(_stamp(os.path.join(folder, p)) for _, p in self._places))

    def read(self, unit: SourceUnit) -> UnitRead:
        """Read, validate and project one unit (its signature is taken first).

        Args:
            unit: the unit.

        Returns:
            Its key, signature, rows and problems.
        """
        key, signature, docs, problems = self.documents(unit)
        if key is None:
            return UnitRead(None, signature, (), problems)
        tables = tuple(
            None if (doc := docs.get(name)) is None else project(doc)
            for name, project in self.projectors
        )
        return UnitRead(key, signature, tables, problems)

    def documents(
        self, unit: SourceUnit
    ) -> tuple[str | None, tuple[Any, ...], dict[str, Any], tuple[Skipped, ...]]:
        """Read and validate one unit's documents (its signature is taken first).

        Args:
            unit: the unit.

        Returns:
            Its key (None: not importable), signature, valid documents by name, and
            problems.
        """
        signature = self.signature(unit)
        # the places that exist, from the signature's stats (a stamp is None only when
        # lstat found nothing there): no second look per companion
        folder = os.path.dirname(str(unit.primary))
        found: dict[str, list[str]] = {}
        for (name, place), stamp in zip(self._places, signature[1:], strict=True):
            if stamp is not None:
                found.setdefault(name, []).append(os.path.join(folder, place))
        docs, problems = _load_unit(self.store, unit, self.files, found)
        primary = docs.get(self.store.mapping.primary.name)
        key = None if primary is None else str(self.store.mapping.primary.key_of(primary))
        return key, signature, docs, tuple(problems)


def _stamp(path: str) -> tuple[int, ...] | None:
    """lstat first (one call for a file or an absent place); a link's target when it has one
    (a dangling link is still a place that changes)."""
    try:
        st = os.lstat(path)
    except OSError:
        return None
    if stat.S_ISLNK(st.st_mode):
        with suppress(OSError):
            st = os.stat(path)
    return (st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)


def backfill(
    store: JsonStore | Path | str,
    shadow: SqliteShadow | Path | str,
    *,
    mapping: DocumentMap = REFERENCE,
    progress: Progress | None = None,
    workers: int | None = None,
    batch: int = BATCH,
    migrate: bool = False,
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

    Returns:
        The counts and every skipped document with its reasons.

    Raises:
        SourceError: the source folder cannot be read (no database is made then).
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
    source, db = open_stores(source, shadow, mapping)
    if migrate:
        db.migrate()
    layouts = _whole_layouts(db, source.root)
    tick = begin_phase(progress, "backfill", total=len(units), unit=UNIT)
    reader = UnitReader(source, layouts)
    if workers is None:
        workers = min(2, os.cpu_count() or 1) if len(units) >= POOL_FROM else 1
    tally = _Tally()
    with gc_paused(), closing(_read_batches(reader, units, workers=workers, batch=batch)) as reads:
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


@dataclass(frozen=True)
class Batch:
    """Units as read, in order, and (from a worker) their child rows flat, per layout."""

    reads: list[tuple[SourceUnit, UnitRead]]
    flat: tuple[FlatRows | None, ...] | None = None


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


def _read_batches(
    reader: UnitReader, units: Sequence[SourceUnit], *, workers: int, batch: int
) -> Generator[Batch, None, None]:
    """The units read, ``batch`` at a time, in order: here, or by a pool of ``workers``."""
    chunks = [list(units[at : at + batch]) for at in range(0, len(units), batch)]
    if workers <= 1:
        for chunk in chunks:
            yield Batch([(unit, reader.read(unit)) for unit in chunk])
        return
    pool = ProcessPoolExecutor(workers, initializer=_start_worker, initargs=(reader,))
    try:
        pending: deque[tuple[list[SourceUnit], Future[_Packed]]] = deque()
        queue = iter(chunks)
        for chunk in queue:
            pending.append((chunk, pool.submit(_read_chunk, chunk)))
            if len(pending) > 2 * workers:
                break
        while pending:
            chunk, future = pending.popleft()
            nxt = next(queue, None)
            if nxt is not None:
                pending.append((nxt, pool.submit(_read_chunk, nxt)))
            reads, flat = _unpack(future.result(), reader.layouts)
            yield Batch(list(zip(chunk, reads, strict=True)), flat)
    finally:
        pool.shutdown(cancel_futures=True)


# A chunk as a worker sends it, marshalled (plain values only: several times cheaper to
# send than pickled reads): each unit's key and signature, the root table's rows per unit,
# every child table's rows flat (``FlatRows``: ready to insert, nothing to rebuild in the
# writer), and the problems by index.
_Packed = tuple[bytes | list[UnitRead], dict[int, tuple[Skipped, ...]]]

_worker_reader: UnitReader | None = None


def _start_worker(reader: UnitReader) -> None:
    """A worker keeps its reader; its documents are acyclic, so the collector stays off.
    It exits when its backfill is gone (killed: no one shuts the pool down)."""
    global _worker_reader
    _worker_reader = reader
    gc.disable()
    threading.Thread(target=_exit_with_parent, args=(os.getppid(),), daemon=True).start()


def _exit_with_parent(parent: int) -> None:
    """Exit once the process that started this worker is gone: else a killed backfill's
    workers wait for work forever, holding its stdout and stderr open."""
    while os.getppid() == parent:
        time.sleep(ORPHAN_POLL)
    os._exit(1)


def _read_chunk(chunk: list[SourceUnit]) -> _Packed:
    reader = _worker_reader
    assert reader is not None
    head: list[tuple[str | None, tuple[Any, ...]]] = []
    problems: dict[int, tuple[Skipped, ...]] = {}
    tables = [_Packer(table) for table in reader.layouts]
    for i, unit in enumerate(chunk):
        key, signature, docs, found = reader.documents(unit)
        head.append((key, signature))
        if found:
            problems[i] = found
        for packer, (name, project) in zip(tables, reader.projectors, strict=True):
            doc = None if key is None else docs.get(name)
            packer.add(i, None if doc is None else project(doc))
    try:  # version 2: no references to share (the values are small and acyclic), faster
        return marshal.dumps((head, [t.packed() for t in tables]), 2), problems
    except ValueError:  # a value marshal cannot hold (a custom projection's): pickle it
        return [reader.read(unit) for unit in chunk], {}


class _Packer:
    """One table's rows of a chunk as a worker sends them: the root's per unit, a child
    table's flat (``FlatRows``: counts and values)."""

    def __init__(self, table: TableLayout) -> None:
        entity = table.entity
        self.root = entity.is_root
        self.keyed = bool(entity.key_column)
        self.fills = (None,) * len(table.fills)
        # child keys that may repeat in a document (a list keyed by a member): the last
        # values count, at the first place, as ``import_units`` takes them
        self.repeats = self.keyed and not entity.set_like and entity.key_path != POSITION
        self.rows: list[list[Row] | None] = []
        self.counts: list[int | None] = []
        self.flat: list[Any] = []

    def add(self, unit: int, rows: list[Row] | None) -> None:
        if self.root or rows is None:
            self.counts.append(None)
            self.rows.append(rows)
            return
        if self.repeats and len(rows) > 1:
            rows = list(dict(rows).items())
        self.counts.append(len(rows))
        flat, fills = self.flat, self.fills
        if self.keyed:
            for key, values in rows:
                flat += (unit, key, *values, *fills)
        else:
            for _, values in rows:
                flat += (unit, *values, *fills)

    def packed(self) -> tuple[list[int | None], list[Any]] | list[list[Row] | None]:
        return self.rows if self.root else (self.counts, self.flat)


def _unpack(
    packed: _Packed, layouts: Sequence[TableLayout]
) -> tuple[list[UnitRead], tuple[FlatRows | None, ...] | None]:
    data, problems = packed
    if not isinstance(data, bytes):
        return data, None
    head, tables = marshal.loads(data)  # noqa: S302 (our workers')
    flat = tuple(
        None
        if table.entity.is_root
        else FlatRows(
            width=table.flat_width,
            keyed=bool(table.entity.key_column),
            fills=len(table.fills),
            counts=tables[at][0],
            flat=tables[at][1],
        )
        for at, table in enumerate(layouts)
    )
    reads = [
        UnitRead(
            key,
            signature,
            _ChunkTables(tables, flat, i) if key is not None else (),
            problems.get(i, ()),
        )
        for i, (key, signature) in enumerate(head)
    ]
    return reads, flat


class _ChunkTables(Sequence[list[Row] | None]):
    """A unit's rows per table, from its chunk: the root's as sent, a child table's built
    from the flat rows only when asked for (``import_units`` inserts a first import's
    straight from them)."""

    def __init__(self, tables: list[Any], flat: tuple[FlatRows | None, ...], unit: int) -> None:
        self._tables = tables
        self._flat = flat
        self._unit = unit

    def __len__(self) -> int:
        return len(self._flat)

    def __getitem__(self, at: int) -> list[Row] | None:  # type: ignore[override]
        rows = self._flat[at]
        return self._tables[at][self._unit] if rows is None else rows.rows(self._unit)


def _without_path(message: str, path: Path) -> str:
    """A store error names its file; the Skipped entry names it already."""
    prefix = f"{path}: "
    return message[len(prefix) :] if message.startswith(prefix) else message


def _reasons(doc: Any, schema: str) -> list[str]:
    """Nothing when the compiled checker says yes; else every reason, from jsonschema."""
    if is_valid(doc, schema):
        return []
    return [str(i) for i in validate_document(doc, schema)]


def _upgrade_fix(doc: Any, kind: str, path: Path) -> str | None:
    """What ``upgrade`` would do for an invalid document of a shipped kind (as ``validate``
    says it); None for a configured schema or when no step applies."""
    if kind not in DOCUMENT_KINDS:
        return None
    from shadow_audit.upgrade import describe_fix, unit_folder

    return describe_fix(doc, kind, unit=unit_folder(path))


def _load_unit(
    store: JsonStore, unit: SourceUnit, files: SafeReader, found: dict[str, list[str]]
) -> tuple[dict[str, Any], list[Skipped]]:
    """The unit's valid documents by name, and the problems of the others (``found``: the
    places each companion exists, in the order looked at)."""
    docs: dict[str, Any] = {}
    problems: list[Skipped] = []
    mapping = store.mapping
    for spec in mapping.documents():
        if spec is mapping.primary:
            path = unit.primary
        else:
            places = found.get(spec.name)
            if not places:
                continue
            path = Path(places[0])
            problems += [
                Skipped(p, (f"a second {spec.name}: {path} is the one read",)) for p in places[1:]
            ]
        try:
            doc = store.read(path, reader=files)
        except ShadowAuditError as exc:
            problems.append(Skipped(str(path), (_without_path(str(exc), path),)))
            if spec is mapping.primary:
                return {}, problems
            continue
        reasons = _reasons(doc, spec.schema) if spec.schema else []
        if not reasons and spec is not mapping.primary and spec.key_path:
            key = mapping.primary.key_of(docs[mapping.primary.name])
            have = spec.key_of(doc)
            if have != key:
                pointer = "/" + spec.key_path.replace(".", "/")
                shown = "absent" if have is MISSING else repr(have)
                reasons.append(f"{pointer}: {shown} is not the key {key!r}")
        if reasons:
            fix = _upgrade_fix(doc, spec.schema, path) if spec.schema else None
            problems.append(Skipped(str(path), tuple(reasons), fix))
            if spec is mapping.primary:
                return {}, problems
            continue
        docs[spec.name] = doc
    return docs, problems
