"""The source side of the audit: enumerate, parse, validate and project every document.

Documents are found with the mapping's own glob (never through the writer),
parsed with orjson while the garbage collector is paused, projected into
expected rows by compiled projectors, and schema-checked, in a second
process when the store is large, so that validation runs on the other core
while this one parses and projects.
"""

from __future__ import annotations

import glob
import os
from collections.abc import Callable
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from shadow_audit.engine.compare import Classified, StreamCompare
from shadow_audit.engine.coverage import CoverageCounter, cover_tree
from shadow_audit.engine.findings import Finding
from shadow_audit.engine.load import Rows, ShadowRows, gc_paused, key_text
from shadow_audit.errors import SourceError, UsageError
from shadow_audit.mapping import (
    MISSING,
    DocumentMap,
    DocumentSpec,
    Entity,
    Field,
    Projector,
    compile_projector,
    get_path,
    split_path,
)
from shadow_audit.progress import UNIT, begin_phase
from shadow_audit.progress import Progress as Progress  # re-exported: callers type with it
from shadow_audit.stores.files import FilePolicy, FileRefused, SafeReader
from shadow_audit.stores.json_store import locate
from shadow_audit.validation import document_problems

PARALLEL_MIN_DOCUMENTS = 2000
# a document's schema problems, from its path and content
Verdicts = Callable[[str, bytes, DocumentSpec], list[str] | None]


def _check_document(path: str, data: bytes, spec: DocumentSpec) -> list[str] | None:
    return document_problems(data, spec.schema)


@dataclass
class SourceRows:
    """What the documents say the database should hold, plus what could not be compared."""

    rows: dict[str, Rows] = field(default_factory=dict)
    classified: dict[str, Classified] = field(default_factory=dict)  # when compared streaming
    problems: list[Finding] = field(default_factory=list)
    excluded: dict[str, set[Any]] = field(default_factory=dict)
    unmapped: dict[tuple[str, str], int] = field(default_factory=dict)
    documents: int = 0
    units: dict[Any, str] = field(default_factory=dict)  # document key -> its primary's path
    # units left out because another key partition owns their key: (primary, key)
    moved: list[tuple[str, Any]] = field(default_factory=list)
    # per document key, its unmapped paths: kept for an incremental audit's state only
    unit_unmapped: dict[Any, set[tuple[str, str]]] = field(default_factory=dict)


def check_schemas(
    primaries: list[str],
    specs: tuple[DocumentSpec, ...],
    root: str = ".",
    files: FilePolicy | None = None,
) -> dict[str, list[str]]:
    """Worker: check every document of these units for duplicate keys and schema
    violations; {path: reasons} of the bad ones.

    Read and parse failures are left to the main process, which sees them too.

    Args:
        primaries: the units' primary documents.
        specs: the document kinds, primary first.
        root: the source folder; files are read only inside it.
        files: the file policy (default: the standard one).

    Returns:
        ``{path: reasons}`` of the bad documents.
    """
    bad: dict[str, list[str]] = {}
    reader = SafeReader(root, files)
    primary, companions = specs[0], specs[1:]
    with gc_paused():
        for path in primaries:
            folder = os.path.dirname(path)
            for spec, doc_path in [(primary, path)] + [
                (c, found[0]) for c in companions if (found := locate(folder, c))
            ]:
                try:
                    data = reader.read(doc_path)
                except (OSError, FileRefused):
                    continue
                reasons = document_problems(data, spec.schema)
                if reasons:
                    bad[doc_path] = reasons
    return bad


class SourceScan:
    """The documents of a store, found once; for a large store the schema checks start on
    the other core as soon as the scan opens, so they overlap everything else the audit does.

    ``workers``: 1 validates inline; 2 or more in a separate process (default: 2 when the
    store has at least 2,000 documents and the machine has two cores). ``primaries``: these
    units instead of the mapping's glob; ``keep``: only units whose document key it
    accepts (one key partition; the others are listed in ``SourceRows.moved``).
    """

    def __init__(
        self,
        source: Path | str,
        mapping: DocumentMap,
        *,
        validate: bool = True,
        workers: int | None = None,
        files: FilePolicy | None = None,
        primaries: list[str] | None = None,
        keep: Callable[[Any], bool] | None = None,
    ) -> None:
        if workers is not None and workers < 1:  # 0 would silently skip the schema check
            raise UsageError(f"workers: {workers} is not a whole number >= 1")
        root = Path(source)
        if not root.is_dir():
            raise SourceError(f"source folder {root}: not a readable folder")
        if not os.access(root, os.R_OK | os.X_OK):
            raise SourceError(f"source folder {root}: permission denied")
        # strings, not Paths: sorting 100,000 Path objects alone costs a tenth of a second
        self.primaries = sorted(
            glob.glob(glob.escape(str(root)) + os.sep + mapping.primary.pattern)
            if primaries is None
            else primaries
        )
        self.keep = keep
        if workers is None:
            many = len(self.primaries) >= PARALLEL_MIN_DOCUMENTS and (os.cpu_count() or 1) > 1
            workers = 2 if many else 1
        self.mapping = mapping
        self.reader = SafeReader(root, files)
        self.validate_inline = validate and workers == 1
        self._pool: ProcessPoolExecutor | None = None
        self._verdicts: Future[dict[str, list[str]]] | None = None
        if validate and workers > 1:
            self._pool = ProcessPoolExecutor(max_workers=1)
            self._verdicts = self._pool.submit(
                check_schemas, self.primaries, mapping.documents(), str(root), files
            )

    def __enter__(self) -> SourceScan:
        return self

    def __exit__(self, *exc: object) -> None:
        if self._pool is not None:
            self._pool.shutdown(cancel_futures=True)
            self._pool = None

    def load(
        self,
        fields: dict[str, tuple[Field, ...]],
        *,
        progress: Progress | None = None,
        against: ShadowRows | None = None,
        mapping: DocumentMap | None = None,
        per_unit: bool = False,
    ) -> SourceRows:
        """Parse and project every document into expected rows for ``fields``.

        Args:
            fields: per table, the columns to project.
            progress: called with 1 per unit.
            against: compare each document's rows as they come (its rows are consumed).
            mapping: the map as the database keys its tables (default: the scan's).
            per_unit: also note each unit's unmapped paths (``SourceRows.unit_unmapped``).

        Returns:
            The expected rows (or their comparison), problems, coverage counts.
        """
        loader = _Loader(
            mapping or self.mapping,
            fields,
            validate=self.validate_inline,
            against=against,
            reader=self.reader,
            keep=self.keep,
            per_unit=per_unit,
        )
        name = "reading source" if against is None else "reading source and comparing"
        tick = begin_phase(progress, name, total=len(self.primaries), unit=UNIT)
        with gc_paused():
            for primary in self.primaries:
                loader.unit(primary)
                if tick:
                    tick(1)
        if self._verdicts is not None:
            for path, reasons in self._verdicts.result().items():
                loader.invalid(path, reasons)
        return loader.finish()


def read_unit(
    primary: str,
    mapping: DocumentMap,
    fields: dict[str, tuple[Field, ...]],
    *,
    reader: SafeReader,
    validate: bool = True,
    verdicts: Verdicts | None = None,
) -> SourceRows:
    """One unit's documents read, validated and projected exactly as the full pass does it;
    ``reader`` reads each file (by the pass's file policy; it may also note what it read).

    Args:
        primary: the unit's primary document.
        mapping: the map.
        fields: the columns to project per table.
        reader: reads each file.
        validate: check each document against its schema.
        verdicts: gives a document's schema problems (default: check it now).

    Returns:
        The unit's expected rows and its problems.
    """
    loader = _Loader(
        mapping, fields, validate=validate, reader=reader, verdicts=verdicts, per_unit=True
    )
    loader.unit(primary)
    return loader.finish()


def unit_keys(
    primaries: list[str],
    mapping: DocumentMap,
    *,
    root: str,
    files: FilePolicy | None = None,
) -> list[Any]:
    """The document key of each unit, as the audit names it (read from the primary
    document; its folder's name when the document has no usable key). Not validated.

    Args:
        primaries: the units' primary documents.
        mapping: the map.
        root: the source folder; files are read only inside it.
        files: the file policy (default: the standard one).

    Returns:
        One key per primary, in order.
    """
    loader = _Loader(mapping, {}, validate=False, reader=SafeReader(root, files))
    with gc_paused():
        return [loader._read(p, mapping.primary, None)[1] for p in primaries]


def load_source(
    source: Path | str,
    mapping: DocumentMap,
    fields: dict[str, tuple[Field, ...]],
    *,
    validate: bool = True,
    progress: Progress | None = None,
    workers: int | None = None,
) -> SourceRows:
    """Parse, validate and project every document into expected rows for ``fields``.

    Args:
        source: the source folder.
        mapping: the map.
        fields: the columns to project per table.
        validate: check each document against its schema.
        progress: ticked as documents are read.
        workers: 1 validates inline; 2 or more in a separate process (default: 2 for a
            large store on a machine with two cores).

    Returns:
        The expected rows and the source's problems.

    Raises:
        SourceError: the source folder cannot be read.
    """
    with SourceScan(source, mapping, validate=validate, workers=workers) as scan:
        return scan.load(fields, progress=progress)


class _Loader:
    """The per-unit work of ``load_source``; state lives here, not in globals."""

    def __init__(
        self,
        mapping: DocumentMap,
        fields: dict[str, tuple[Field, ...]],
        *,
        validate: bool,
        against: ShadowRows | None = None,
        reader: SafeReader | None = None,
        keep: Callable[[Any], bool] | None = None,
        verdicts: Verdicts | None = None,
        per_unit: bool = False,
    ) -> None:
        self.mapping = mapping
        self.keep = keep
        self.verdicts = verdicts or _check_document
        self.per_unit = per_unit
        self.reader = reader or SafeReader("/")
        self.validate = validate
        self.against = against
        self.streams = (
            {t: StreamCompare(rows) for t, rows in against.rows.items() if t in fields}
            if against is not None
            else {}
        )
        self.key_parts = {d.name: split_path(d.key_path or "") for d in mapping.documents()}
        self.out = SourceRows(rows={e.table: {} for e in mapping.entities if e.table in fields})
        self.entities: dict[str, list[tuple[Entity, Projector, Callable[[Rows], None]]]] = {
            d.name: [
                (e, compile_projector(e, fields[e.table]), self._sink(e.table))
                for e in mapping.entities
                if e.document == d.name and e.table in fields
            ]
            for d in mapping.documents()
        }
        self.coverage = CoverageCounter(
            {name: cover_tree(paths) for name, paths in mapping.covered_paths().items()}
        )
        self.owner: dict[Any, str] = {}
        self.duplicated: set[Any] = set()
        # path -> (spec, key) of every document read, for the schema worker's late verdicts
        self.seen: dict[str, tuple[DocumentSpec, Any]] = {}
        self.bad: dict[str, tuple[DocumentSpec, Any, list[str]]] = {}

    def unit(self, primary: str) -> None:
        mapping = self.mapping
        doc, key = self._read(primary, mapping.primary, None)
        if self.keep is not None and not self.keep(key):  # another partition's unit
            self.seen.pop(primary, None)
            self.bad.pop(primary, None)
            self.out.moved.append((primary, key))
            return
        self.out.documents += 1
        self.out.units.setdefault(key, primary)
        if doc is None:
            return
        if key in self.owner:
            self.duplicated.add(key)
            self.out.problems.append(
                Finding(
                    kind="duplicate_key",
                    entity=mapping.root.table,
                    key=str(key),
                    path=mapping.primary.key_path,
                    document=mapping.primary.name,
                    detail=f"{self.owner[key]} and {primary} have the same key",
                )
            )
            return
        self.owner[key] = primary
        self._project(doc, key, mapping.primary)
        folder = os.path.dirname(primary)
        for spec in mapping.companions:
            found = locate(folder, spec)
            if not found:
                continue
            companion, _ = self._read(found[0], spec, key, optional=True)
            if companion is not None:
                self._project(companion, key, spec)
            for stray in found[1:]:
                self.out.problems.append(
                    _invalid_source(
                        spec,
                        key,
                        stray,
                        [
                            f"two {spec.name} documents in one unit: {found[0]} is the one "
                            f"read, {stray} is not; merge them into the first and remove it"
                        ],
                    )
                )

    def _read(
        self, path: str, spec: DocumentSpec, key: Any, *, optional: bool = False
    ) -> tuple[Any, Any]:
        """(document, key) when usable; (None, best key guess) after noting why not.

        An ``optional`` document that does not exist is simply absent (no extra stat call:
        the open says so)."""
        guess = key if key is not None else os.path.basename(os.path.dirname(path))
        reasons: list[str] = []
        doc: Any = None
        data = b""
        try:
            data = self.reader.read(path)
            doc = orjson.loads(data)
        except FileRefused as exc:
            reasons.append(exc.reason)
        except FileNotFoundError as exc:
            if optional and not os.path.islink(path):
                return None, guess
            reasons.append(f"cannot read: {exc.strerror or exc}")
        except OSError as exc:
            reasons.append(f"cannot read: {exc.strerror or exc}")
        except orjson.JSONDecodeError as exc:
            reasons.append(f"not valid JSON at line {exc.lineno}, column {exc.colno}: {exc.msg}")
        if not reasons:
            if self.validate:
                reasons = self.verdicts(path, data, spec) or []
            found = get_path(doc, self.key_parts[spec.name]) if spec.key_path else MISSING
            pointer = "/" + (spec.key_path or "").replace(".", "/")
            if key is None and isinstance(found, str) and found:
                guess = found
            elif key is None and spec.key_path:
                reasons.append(f"{pointer}: no document key")
            elif key is not None and spec.key_path and found != key:
                reasons.append(f"{pointer}: {found!r} is not the key {key!r} of its folder")
        self.seen[path] = (spec, guess)
        if reasons:
            self.bad[path] = (spec, guess, reasons)
            return None, guess
        return doc, guess

    def invalid(self, path: str, reasons: list[str]) -> None:
        """A verdict from the schema worker about a document this process already read."""
        seen = self.seen.get(path)
        if seen is None:
            return  # not read here (vanished meanwhile): nothing was projected from it
        spec, key = seen
        if path in self.bad:
            self.bad[path][2][:0] = reasons
        else:
            self.bad[path] = (spec, key, list(reasons))

    def _sink(self, table: str) -> Callable[[Rows], None]:
        """Where one document's rows of ``table`` go: the stream compare, or the row dict."""
        if table in self.streams:
            return self.streams[table].feed
        return self.out.rows[table].update

    def _project(self, doc: Any, key: Any, spec: DocumentSpec) -> None:
        for entity, project, add in self.entities[spec.name]:
            produced = project(doc)
            if entity.rows_from is None:
                for _, values in produced:
                    add({(key,): values})
                continue
            fresh = {(key, child): values for child, values in produced}
            if len(fresh) != len(produced):
                for row_key in self._child_duplicates(entity, key, produced, spec):
                    del fresh[row_key]
            add(fresh)
        found = self.coverage.add(spec.name, doc)
        if self.per_unit and found:
            self.out.unit_unmapped.setdefault(key, set()).update((spec.name, p) for p in found)

    def _child_duplicates(
        self, entity: Entity, key: Any, produced: list[Any], spec: DocumentSpec
    ) -> list[Any]:
        """Report and exclude child keys a document repeats; returns those row keys."""
        counts: dict[Any, int] = {}
        repeated: list[Any] = []
        for child, _ in produced:
            counts[child] = counts.get(child, 0) + 1
        for child, n in counts.items():
            if n > 1:
                row_key = (key, child)
                self.out.problems.append(
                    Finding(
                        kind="duplicate_key",
                        entity=entity.table,
                        key=key_text(row_key),
                        path=entity.key_source_path,
                        document=spec.name,
                        detail=f"the key appears {n} times in the source document",
                    )
                )
                self.out.excluded.setdefault(entity.table, set()).add(row_key)
                repeated.append(row_key)
        return repeated

    def finish(self) -> SourceRows:
        out = self.out
        for path, (spec, key, reasons) in sorted(self.bad.items()):
            out.problems.append(_invalid_source(spec, key, path, reasons))
            # left out of the comparison: its rows (under the key it names, else its
            # folder's name) are neither missing nor extra
            tables = (
                [e.table for es in self.entities.values() for e, _, _ in es]
                if spec is self.mapping.primary
                else [e.table for e, _, _ in self.entities[spec.name]]
            )
            for table in tables:
                out.excluded.setdefault(table, set()).add(key)
        for table in [e.table for es in self.entities.values() for e, _, _ in es]:
            if self.duplicated:
                out.excluded.setdefault(table, set()).update(self.duplicated)
        out.unmapped = dict(self.coverage.counts)
        shadow_excluded = self.against.excluded if self.against is not None else {}
        for table, stream in self.streams.items():
            excluded = out.excluded.get(table, set()) | shadow_excluded.get(table, set())
            out.classified[table] = stream.finish(excluded)
        return out


def _invalid_source(spec: DocumentSpec, key: Any, path: str, reasons: list[str]) -> Finding:
    """The finding for a source document the audit cannot use, with its reasons."""
    return Finding(
        kind="invalid_source",
        entity=spec.name,
        key=str(key),
        path=path,
        document=spec.name,
        detail=reasons,
    )
