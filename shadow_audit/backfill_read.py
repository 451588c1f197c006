"""The backfill's reading side: each unit's documents read, validated and projected
into the shadow's rows, on every core, and sent to the writer a chunk at a time.

A worker validates with the compiled checker (jsonschema gives the reasons of a no)
and projects with ``compile_stored_projector``; it sends a chunk marshalled: each
unit's key and stat signature, the root table's rows per unit, and every child table's
rows flat (``FlatRows``), ready to insert, so the writer builds no row of a first
import. A unit's stat signature is taken before its files are read: the writer looks
again inside its transaction and reads a changed unit again.
"""

from __future__ import annotations

import gc
import marshal
import os
import stat
import threading
import time
from collections import deque
from collections.abc import Generator, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from contextlib import suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple

from shadow_audit.errors import ShadowAuditError
from shadow_audit.mapping import MISSING, POSITION, Row
from shadow_audit.mapping.projection import compile_stored_projector
from shadow_audit.stores.bulk import FlatRows, TableLayout
from shadow_audit.stores.files import SafeReader
from shadow_audit.stores.json_store import JsonStore, SourceUnit
from shadow_audit.validation import DOCUMENT_KINDS, is_valid, validate_document

ORPHAN_POLL = 0.5  # seconds between a worker's looks at whether its backfill still runs


@dataclass(frozen=True)
class Skipped:
    """A document that was not imported, and every reason why (the reasons do not repeat
    the path); ``fix``: what ``shadow-audit upgrade`` would do about a legacy shape."""

    path: str
    reasons: tuple[str, ...]
    fix: str | None = None


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


@dataclass(frozen=True)
class Batch:
    """Units as read, in order, and (from a worker) their child rows flat, per layout."""

    reads: list[tuple[SourceUnit, UnitRead]]
    flat: tuple[FlatRows | None, ...] | None = None


def read_batches(
    reader: UnitReader, units: Sequence[SourceUnit], *, workers: int, batch: int
) -> Generator[Batch, None, None]:
    """Read the units ``batch`` at a time, in order: here, or by a pool of ``workers``
    (the pool is shut down when the generator is closed).

    Args:
        reader: reads, validates and projects one unit (each worker gets a copy).
        units: the units, in order.
        workers: processes that read (1: this process).
        batch: units per chunk.

    Yields:
        Each chunk's units as read, with their child rows flat when a worker sent them.
    """
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
