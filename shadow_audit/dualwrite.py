"""The writer: validate, write JSON (the truth), then the shadow; shadow failures never escape.

Races: the per-unit file lock is held across both writes, so for any one unit
the order of JSON writes is the order of shadow writes: the last writer wins
both stores, and the shadow can never keep an older version than the JSON.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable
from collections.abc import Mapping as MappingABC
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from shadow_audit.errors import InvalidDocumentError, UsageError
from shadow_audit.ledger import FailureLedger, LedgerEntry, default_ledger_path
from shadow_audit.mapping import DocumentSpec, canonical_json, get_path, split_path
from shadow_audit.stores.json_store import JsonStore, check_safe_name
from shadow_audit.stores.sqlite_shadow import SqliteShadow
from shadow_audit.validation import is_valid, validate_document

log = logging.getLogger(__name__)


def document_hash(document: Any) -> str:
    return hashlib.sha256(canonical_json(document).encode()).hexdigest()


@dataclass(frozen=True)
class SaveResult:
    """Where the JSON went, and what happened to the shadow write."""

    unit: str
    paths: tuple[Path, ...]
    shadow_ok: bool
    mission_id: int | None = None
    failure: LedgerEntry | None = None


class DualWriter:
    """JSON is the control: its failures propagate. SQLite is the candidate:
    its failures go to the ledger and the log, never to the caller."""

    def __init__(
        self,
        store: JsonStore,
        shadow: SqliteShadow,
        *,
        ledger: FailureLedger | None = None,
        lock_timeout: float = 30.0,
    ) -> None:
        if store.mapping is not shadow.mapping:
            raise UsageError("the JSON store and the shadow must share one mapping")
        self.store = store
        self.shadow = shadow
        self.mapping = store.mapping
        self.ledger = ledger or FailureLedger(default_ledger_path(shadow.path))
        self.lock_timeout = lock_timeout

    def save_manifest(
        self, manifest: MappingABC[str, Any], *, workspace: str | None = None
    ) -> SaveResult:
        """Validate and save a primary document, then its root row in the shadow."""
        return self.save({self.mapping.primary.name: manifest}, workspace=workspace)

    def save_memory(
        self,
        memory: MappingABC[str, Any],
        *,
        workspace: str | None = None,
        mission_id: int | None = None,
    ) -> SaveResult:
        """Save a memory; without a mission id only the JSON is written (reference semantics)."""
        name = self.mapping.companions[0].name
        return self.save({name: memory}, workspace=workspace, shadow=mission_id is not None)

    def save_project(
        self,
        manifest: MappingABC[str, Any],
        memory: MappingABC[str, Any] | None = None,
        *,
        workspace: str | None = None,
    ) -> SaveResult:
        """Save a manifest and its memory together: both JSON files, then one shadow transaction."""
        docs = {self.mapping.primary.name: manifest}
        if memory is not None:
            docs[self.mapping.companions[0].name] = memory
        return self.save(docs, workspace=workspace)

    def save(
        self,
        documents: MappingABC[str, MappingABC[str, Any]],
        *,
        workspace: str | None = None,
        shadow: bool = True,
    ) -> SaveResult:
        """The dual write for one unit. Raises only for invalid documents and JSON failures."""
        key, unit = self._checked(documents, workspace)
        with self.store.lock(unit, timeout=self.lock_timeout):
            return self._write_locked(unit, key, documents, shadow=shadow)

    def update(
        self,
        unit: str,
        change: Callable[[dict[str, Any]], MappingABC[str, MappingABC[str, Any]]],
    ) -> SaveResult:
        """Read-modify-write under the unit's lock: ``change`` gets the unit's documents
        ({name: document}) as they are on disk and returns the documents to save."""
        check_safe_name(unit, "workspace")
        with self.store.lock(unit, timeout=self.lock_timeout):
            current = {}
            for spec in self.mapping.documents():
                path = self.store.path_for(unit, spec.name)
                if path.exists():
                    current[spec.name] = self.store.read(path)
            documents = change(current)
            key, _ = self._checked(documents, unit)
            return self._write_locked(unit, key, documents, shadow=True)

    def _checked(
        self, documents: MappingABC[str, MappingABC[str, Any]], workspace: str | None
    ) -> tuple[str, str]:
        """Validate every document and work out (key, unit); raises before any write."""
        specs = {d.name: d for d in self.mapping.documents()}
        key = self._key(documents, specs)
        for name, doc in documents.items():
            self._validate(name, doc, specs[name], key)
        unit = check_safe_name(workspace or key, "workspace")
        self._check_unit_key(unit, key, documents)
        return key, unit

    def _write_locked(
        self,
        unit: str,
        key: str,
        documents: MappingABC[str, MappingABC[str, Any]],
        *,
        shadow: bool,
    ) -> SaveResult:
        """JSON first (its failure propagates), then the shadow (its failure is recorded)."""
        paths = tuple(self.store.path_for(unit, name) for name in documents)
        for path, doc in zip(paths, documents.values(), strict=True):
            self.store.write(path, doc)
        if not shadow:
            return SaveResult(unit=unit, paths=paths, shadow_ok=False)
        try:
            with self.shadow.transaction() as conn:
                mission_id = self.shadow.write(conn, key, documents)
        except Exception as exc:  # the candidate's failures are recorded, never raised
            failure = self._record(key, documents, exc)
            return SaveResult(unit=unit, paths=paths, shadow_ok=False, failure=failure)
        return SaveResult(unit=unit, paths=paths, shadow_ok=True, mission_id=mission_id)

    def _key(
        self, documents: MappingABC[str, MappingABC[str, Any]], specs: dict[str, DocumentSpec]
    ) -> str:
        for name, doc in documents.items():
            if name not in specs:
                raise UsageError(f"mapping {self.mapping.name} has no document {name!r}")
            path = specs[name].key_path
            value = get_path(doc, split_path(path)) if path else None
            if isinstance(value, str) and value:
                return value
        raise InvalidDocumentError(
            ", ".join(documents), [f"/{self.mapping.primary.key_path}: no document key"]
        )

    def _validate(self, name: str, doc: Any, spec: DocumentSpec, key: str) -> None:
        where = f"{name} {key}"
        if spec.schema and not is_valid(doc, spec.schema):
            issues = validate_document(doc, spec.schema)
            if issues:
                raise InvalidDocumentError(where, [str(i) for i in issues])
        try:
            orjson.dumps(doc)
        except TypeError as exc:  # e.g. an integer beyond 64 bits: no store keeps it exactly
            raise InvalidDocumentError(where, [f"/: cannot be stored exactly: {exc}"]) from exc
        if spec.key_path:
            value = get_path(doc, split_path(spec.key_path))
            if value != key:
                pointer = "/" + spec.key_path.replace(".", "/")
                raise InvalidDocumentError(where, [f"{pointer}: {value!r} is not the key {key!r}"])
        check_safe_name(key, f"{name} key")

    def _check_unit_key(
        self, unit: str, key: str, documents: MappingABC[str, MappingABC[str, Any]]
    ) -> None:
        """A companion saved alone must belong to the primary document already in its folder."""
        primary = self.mapping.primary
        path = self.store.path_for(unit, primary.name)
        if primary.name in documents or not path.exists():
            return
        existing = get_path(self.store.read(path), split_path(primary.key_path or ""))
        if existing != key:
            name = next(iter(documents))
            raise InvalidDocumentError(
                f"{name} {key}", [f"key {key!r} is not the key {existing!r} of workspace {unit}"]
            )

    def _record(
        self, key: str, documents: MappingABC[str, Any], exc: Exception
    ) -> LedgerEntry | None:
        one_line = " ".join(str(exc).split())
        log.warning("shadow write for %s failed: %s: %s", key, type(exc).__name__, one_line)
        try:
            return self.ledger.record(key=key, document_hash=document_hash(documents), error=exc)
        except Exception:  # even a failing ledger must not break the application
            log.exception("failure ledger %s could not record %s", self.ledger.path, key)
            return None
