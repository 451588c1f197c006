"""Backfill: import every valid source document that existed before dual write began."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from shadow_audit.errors import ShadowAuditError
from shadow_audit.mapping import get_path, split_path
from shadow_audit.stores.json_store import JsonStore, SourceUnit, locate
from shadow_audit.stores.sqlite_shadow import SqliteShadow
from shadow_audit.validation import validate_document

Progress = Callable[[int], None]


@dataclass(frozen=True)
class Skipped:
    """A document that was not imported, and every reason why."""

    path: str
    reasons: tuple[str, ...]


@dataclass(frozen=True)
class BackfillResult:
    """How many units were imported, and what was skipped."""

    units: int
    imported: int
    skipped: tuple[Skipped, ...]

    def to_dict(self) -> dict[str, Any]:
        return {
            "units": self.units,
            "imported": self.imported,
            "skipped": [{"path": s.path, "reasons": list(s.reasons)} for s in self.skipped],
        }


def backfill(
    store: JsonStore, shadow: SqliteShadow, *, progress: Progress | None = None
) -> BackfillResult:
    """Import each unit under its lock, one transaction per unit; running it twice changes nothing.

    An invalid primary document skips its unit; an invalid companion is
    skipped alone. A key already imported from another unit is skipped.
    """
    mapping = store.mapping
    skipped: list[Skipped] = []
    seen: dict[str, str] = {}
    imported = 0
    units = store.units()
    with shadow.connection() as conn:
        for unit in units:
            docs, problems = _load_unit(store, unit)
            skipped += problems
            primary = docs.get(mapping.primary.name)
            if primary is not None:
                key = str(get_path(primary, split_path(mapping.primary.key_path or "")))
                if key in seen:
                    reason = f"duplicate key {key!r}: already imported from {seen[key]}"
                    skipped.append(Skipped(str(unit.primary), (reason,)))
                else:
                    seen[key] = str(unit.primary)
                    try:
                        with store.lock(unit.name), shadow.transaction(conn):
                            docs, _ = _load_unit(store, unit)  # re-read under the lock
                            shadow.write(conn, key, docs)
                        imported += 1
                    except Exception as exc:  # reported per unit; the backfill goes on
                        reason = f"shadow write failed: {type(exc).__name__}: {exc}"
                        skipped.append(Skipped(str(unit.primary), (reason,)))
            if progress:
                progress(1)
    return BackfillResult(units=len(units), imported=imported, skipped=tuple(skipped))


def _load_unit(store: JsonStore, unit: SourceUnit) -> tuple[dict[str, Any], list[Skipped]]:
    docs: dict[str, Any] = {}
    problems: list[Skipped] = []
    for spec in store.mapping.documents():
        if spec is store.mapping.primary:
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
            problems.append(Skipped(str(path), (str(exc),)))
            if spec is store.mapping.primary:
                return {}, problems
            continue
        reasons = [str(i) for i in validate_document(doc, spec.schema)] if spec.schema else []
        if not reasons and spec is not store.mapping.primary and spec.key_path:
            primary = docs[store.mapping.primary.name]
            key = get_path(primary, split_path(store.mapping.primary.key_path or ""))
            have = get_path(doc, split_path(spec.key_path))
            if have != key:
                pointer = "/" + spec.key_path.replace(".", "/")
                reasons.append(f"{pointer}: {have!r} is not the key {key!r}")
        if reasons:
            problems.append(Skipped(str(path), tuple(reasons)))
            if spec is store.mapping.primary:
                return {}, problems
            continue
        docs[spec.name] = doc
    return docs, problems
