"""Export: every document SQLite holds, rebuilt by the mapping, written as JSON files."""

from __future__ import annotations

import dataclasses
import sqlite3
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from shadow_audit.errors import ShadowAuditError
from shadow_audit.mapping import DocumentMap, build_documents, quote
from shadow_audit.stores.json_store import JsonStore, dump_document
from shadow_audit.stores.sqlite_shadow import read_unit_rows


class ExportError(ShadowAuditError):
    """Some documents could not be written out of SQLite into JSON files."""


@dataclass(frozen=True)
class ExportResult:
    """What an export wrote: files rewritten, files already equal, keys exported."""

    keys: int
    written: int
    unchanged: int

    def to_dict(self) -> dict[str, int]:
        return dataclasses.asdict(self)


def export_documents(
    conn: sqlite3.Connection, mapping: DocumentMap, out: JsonStore
) -> ExportResult:
    """Write every document SQLite holds as JSON files (atomic), rebuilt by the mapping.

    A file that already holds the same document is left alone.

    Args:
        conn: a connection to the database (read-only is enough).
        mapping: the document map.
        out: the JSON store to write (its layout: ``<key>/project_manifest.json`` ...).

    Returns:
        The counts.

    Raises:
        ExportError: any document could not be written (the first failure is named).
    """
    root = mapping.root
    keys = [
        r[0]
        for r in conn.execute(
            f"SELECT {quote(root.key_column or '')} FROM {quote(root.table)} ORDER BY 1"
        )
    ]
    written = unchanged = 0
    failures: list[str] = []
    for key in keys:
        try:
            documents = build_documents(mapping, key, read_unit_rows(conn, mapping, key))
            for name, doc in documents.items():
                path = out.path_for(key, name)
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


def _holds(path: Path, data: bytes, doc: Any) -> bool:
    try:
        existing = path.read_bytes()
        return existing == data or bool(orjson.loads(existing) == doc)
    except (OSError, orjson.JSONDecodeError):
        return False
