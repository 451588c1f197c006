"""Backfill: import every valid source document that existed before dual write began."""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from shadow_audit.errors import DatabaseError, ShadowAuditError
from shadow_audit.mapping import MISSING, DocumentMap
from shadow_audit.profiles import REFERENCE
from shadow_audit.progress import UNIT, Progress, begin_phase
from shadow_audit.stores.json_store import JsonStore, SourceUnit, locate
from shadow_audit.stores.sqlite_shadow import SqliteShadow
from shadow_audit.validation import validate_document


@dataclass(frozen=True)
class Skipped:
    """A document that was not imported, and every reason why (the reasons do not repeat
    the path)."""

    path: str
    reasons: tuple[str, ...]


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
            "skipped": [{"path": s.path, "reasons": list(s.reasons)} for s in self.skipped],
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
        DatabaseError: the shadow file exists but is not an SQLite database, or cannot be
            created.
    """
    store = source if isinstance(source, JsonStore) else JsonStore(source, mapping)
    if isinstance(shadow, SqliteShadow):
        return store, shadow
    try:
        return store, SqliteShadow(shadow, store.mapping)
    except sqlite3.DatabaseError as exc:
        raise DatabaseError(f"database {shadow}: cannot open as SQLite: {exc}") from exc
    except OSError as exc:
        raise DatabaseError(f"database {shadow}: cannot create: {exc.strerror}") from exc


def backfill(
    store: JsonStore | Path | str,
    shadow: SqliteShadow | Path | str,
    *,
    mapping: DocumentMap = REFERENCE,
    progress: Progress | None = None,
) -> BackfillResult:
    """Import each unit under its lock, one transaction per unit; running it twice changes nothing.

    An invalid primary document skips its unit; an invalid companion is skipped alone
    (the unit counts as ``partial``). A key already imported from another unit is skipped.

    Args:
        store: the JSON store, or its folder.
        shadow: the SQLite shadow, or its file (created when new).
        mapping: the map, when ``store`` is a folder.
        progress: ticked once per unit (phase ``"backfill"``, with the unit count).

    Returns:
        The counts and every skipped document with its reasons.

    Raises:
        SourceError: the source folder cannot be read.
        DatabaseError: the shadow is not an SQLite database.
    """
    source, db = open_stores(store, shadow, mapping)
    skipped: list[Skipped] = []
    seen: dict[str, str] = {}
    imported = unchanged = partial = 0
    units = source.units()
    tick = begin_phase(progress, "backfill", total=len(units), unit=UNIT)
    with db.connection() as conn:
        for unit in units:
            docs, problems = _load_unit(source, unit)
            skipped += problems
            primary = docs.get(source.mapping.primary.name)
            if primary is not None:
                key = str(source.mapping.primary.key_of(primary))
                if key in seen:
                    reason = f"duplicate key {key!r}: already imported from {seen[key]}"
                    skipped.append(Skipped(str(unit.primary), (reason,)))
                else:
                    seen[key] = str(unit.primary)
                    try:
                        before = conn.total_changes
                        with source.lock(unit.name), db.transaction(conn):
                            docs, problems = _load_unit(source, unit)  # re-read under the lock
                            db.write(conn, key, docs)
                        if problems:
                            partial += 1
                        elif conn.total_changes == before:
                            unchanged += 1
                        else:
                            imported += 1
                    except Exception as exc:  # reported per unit; the backfill goes on
                        reason = f"shadow write failed: {type(exc).__name__}: {exc}"
                        skipped.append(Skipped(str(unit.primary), (reason,)))
            if tick:
                tick(1)
    return BackfillResult(
        units=len(units),
        imported=imported,
        skipped=tuple(skipped),
        unchanged=unchanged,
        partial=partial,
    )


def _without_path(message: str, path: Path) -> str:
    """A store error names its file; the Skipped entry names it already."""
    prefix = f"{path}: "
    return message[len(prefix) :] if message.startswith(prefix) else message


def _load_unit(store: JsonStore, unit: SourceUnit) -> tuple[dict[str, Any], list[Skipped]]:
    docs: dict[str, Any] = {}
    problems: list[Skipped] = []
    mapping = store.mapping
    for spec in mapping.documents():
        if spec is mapping.primary:
            path = unit.primary
        else:
            found = locate(unit.folder, spec)
            if not found:
                continue
            path = Path(found[0])
            problems += [
                Skipped(p, (f"a second {spec.name}: {path} is the one read",)) for p in found[1:]
            ]
        try:
            doc = store.read(path)
        except ShadowAuditError as exc:
            problems.append(Skipped(str(path), (_without_path(str(exc), path),)))
            if spec is mapping.primary:
                return {}, problems
            continue
        reasons = [str(i) for i in validate_document(doc, spec.schema)] if spec.schema else []
        if not reasons and spec is not mapping.primary and spec.key_path:
            key = mapping.primary.key_of(docs[mapping.primary.name])
            have = spec.key_of(doc)
            if have != key:
                pointer = "/" + spec.key_path.replace(".", "/")
                shown = "absent" if have is MISSING else repr(have)
                reasons.append(f"{pointer}: {shown} is not the key {key!r}")
        if reasons:
            problems.append(Skipped(str(path), tuple(reasons)))
            if spec is mapping.primary:
                return {}, problems
            continue
        docs[spec.name] = doc
    return docs, problems
