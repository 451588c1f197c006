"""Export: every document SQLite holds, rebuilt by the mapping, written as JSON files."""

from __future__ import annotations

import dataclasses
import sqlite3
from collections.abc import Collection
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import orjson

from shadow_audit.config import Config
from shadow_audit.errors import ShadowAuditError
from shadow_audit.mapping import DocumentMap, compile_rebuilder, quote
from shadow_audit.stores.json_store import JsonStore, dump_document
from shadow_audit.stores.rows import UnitReader
from shadow_audit.stores.sqlite_shadow import connect_readonly

if TYPE_CHECKING:
    from shadow_audit.engine.findings import AuditResult


class ExportError(ShadowAuditError):
    """Some documents could not be written out of SQLite into JSON files."""


@dataclass(frozen=True)
class ExportResult:
    """What an export wrote: files rewritten, files already equal, keys exported."""

    keys: int
    written: int
    unchanged: int

    def to_dict(self) -> dict[str, int]:
        """Return this ExportResult as plain data (JSON-ready)."""
        return dataclasses.asdict(self)


def export_documents(
    conn: sqlite3.Connection,
    mapping: DocumentMap,
    out: JsonStore,
    *,
    keys: Collection[str] | None = None,
    overwrite: bool = True,
) -> ExportResult:
    """Write every document SQLite holds as JSON files (atomic), rebuilt by the mapping.

    A key's documents go to the folder that already holds that key, however it is named
    (the reference names folders its own way: ``agency_toolkit/`` holding
    ``agency-toolkit-001``), so a rollback or a repair never makes a second copy; a key no
    folder holds gets a folder named after it. A file that already holds the same document
    is left alone. Rows are read and rebuilt by the read path's compiled statements and
    rebuild (``UnitReader``, ``compile_rebuilder``), equal to ``build_documents``.

    Args:
        conn: a connection to the database (read-only is enough).
        mapping: the document map.
        out: the JSON store to write (its layout: ``<key>/project_manifest.json`` ...).
        keys: only these document keys (default: every key in the database).
        overwrite: replace files that hold another document; when False, nothing is
            written if any file would be replaced.

    Returns:
        The counts.

    Raises:
        ExportError: any document could not be written (the first failure is named), or
            ``overwrite`` is False and some file holds another document.
    """
    root = mapping.root
    stored = [
        r[0]
        for r in conn.execute(
            f"SELECT {quote(root.key_column or '')} FROM {quote(root.table)} ORDER BY 1"
        )
    ]
    keys = stored if keys is None else [k for k in stored if k in set(keys)]
    rebuild = _Rebuild(conn, mapping)
    # every key's folder found before anything is written: a folder this export makes would
    # otherwise be listed and read again by the search for each later key (quadratic)
    units = {key: out.unit_of(key) for key in keys}
    if not overwrite:
        _refuse_to_replace(rebuild, out, units)
    written = unchanged = 0
    failures: list[str] = []
    for key in keys:
        try:
            documents = rebuild(key)
            unit = units[key]
            for name, doc in documents.items():
                path = out.path_for(unit, name)
                if path.is_file() and _holds(path, dump_document(doc), doc):
                    unchanged += 1
                    continue
                out.write(path, doc)
                written += 1
        except (OSError, ShadowAuditError) as exc:
            failures.append(f"{key}: {' '.join(str(exc).split())}")
    if failures:
        more = f" (+{len(failures) - 1} more)" if len(failures) > 1 else ""
        raise ExportError(f"export to {out.root}: {failures[0]}{more}")
    return ExportResult(keys=len(keys), written=written, unchanged=unchanged)


class _Rebuild:
    """One key's documents from its rows: the read path's statements and rebuild, made once."""

    def __init__(self, conn: sqlite3.Connection, mapping: DocumentMap) -> None:
        self.conn = conn
        self.reader = UnitReader(mapping)
        self.rebuild = compile_rebuilder(mapping)

    def __call__(self, key: str) -> dict[str, Any]:
        rows = self.reader.read(self.conn, key)
        return self.rebuild(key, rows) if rows else {}


def _refuse_to_replace(rebuild: _Rebuild, out: JsonStore, units: dict[str, str]) -> None:
    """Raise before anything is written when a file under ``out`` holds another document."""
    differ = []
    for key, unit in units.items():
        for name, doc in rebuild(key).items():
            path = out.path_for(unit, name)
            if path.exists() and not _holds(path, dump_document(doc), doc):
                differ.append(path)
    if differ:
        more = f" and {len(differ) - 1} more" if len(differ) > 1 else ""
        raise ExportError(
            f"export to {out.root}: refused, nothing written: {differ[0]}{more} hold other "
            "documents than SQLite (an archive goes to a new folder; --overwrite replaces them)"
        )


def _holds(path: Path, data: bytes, doc: Any) -> bool:
    try:
        existing = path.read_bytes()
        return existing == data or bool(orjson.loads(existing) == doc)
    except (OSError, orjson.JSONDecodeError):
        return False


@dataclass(frozen=True)
class JsonRepair:
    """A repair in the SQLite-is-truth direction: which keys, what was written, the audits."""

    keys: tuple[str, ...]
    not_in_truth: tuple[str, ...]
    exported: ExportResult | None
    before: AuditResult
    after: AuditResult | None


def repair_json(
    source: Path | str, shadow: Path | str, *, config: Config | None = None, execute: bool = False
) -> JsonRepair:
    """Make the JSON copy equal SQLite (the truth from sqlite-primary on) for every key the
    audit reports, by exporting those keys; then audit again.

    Keys only the JSON has are listed, never deleted.

    Args:
        source: the JSON folder (the copy).
        shadow: the SQLite file (the truth).
        config: the mapping.
        execute: write; without it only the plan (keys) is returned.

    Returns:
        The keys, what was written and the audits before and after.

    Raises:
        ExportError: a JSON file could not be written.
        DatabaseError: the database is missing or not SQLite.
    """
    from shadow_audit.engine.run import audit

    config = config or Config()
    before = audit(source, shadow, config=config)
    touched = {f.key.split("/", 1)[0] for f in before.findings if not f.key.startswith("<")}
    with closing(connect_readonly(shadow)) as conn:
        root = config.mapping.root
        present = {
            r[0]
            for r in conn.execute(f"SELECT {quote(root.key_column or '')} FROM {quote(root.table)}")
        }
        keys = tuple(sorted(touched & present))
        if not execute or not keys:
            return JsonRepair(keys, tuple(sorted(touched - present)), None, before, None)
        out = JsonStore(source, config.mapping)
        exported = export_documents(conn, config.mapping, out, keys=keys)
    after = audit(source, shadow, config=config)
    return JsonRepair(keys, tuple(sorted(touched - present)), exported, before, after)
