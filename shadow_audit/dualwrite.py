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
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import orjson

from shadow_audit.errors import InvalidDocumentError, UsageError
from shadow_audit.ledger import FailureLedger, LedgerEntry, default_ledger_path
from shadow_audit.mapping import DocumentSpec, canonical_json, quote
from shadow_audit.stores.json_store import SAFE_NAME, JsonStore, check_safe_name
from shadow_audit.stores.sqlite_shadow import SqliteShadow, connect_readonly
from shadow_audit.validation import is_valid, validate_document

log = logging.getLogger(__name__)


def document_hash(document: Any) -> str:
    """Return the SHA-256 of a document's canonical JSON, as the failure ledger records it.

    Args:
        document: any JSON-ready value.

    Returns:
        The hex digest; equal documents (any key order) hash alike.
    """
    return hashlib.sha256(canonical_json(document).encode()).hexdigest()


@dataclass(frozen=True)
class SaveResult:
    """Where the JSON went, and what happened to the shadow write."""

    unit: str
    paths: tuple[Path, ...]
    shadow_ok: bool
    mission_id: int | None = None
    failure: LedgerEntry | None = None


Validation = Literal["observe", "enforce"]
VALIDATION_MODES: tuple[str, ...] = ("observe", "enforce")


class DualWriter:
    """JSON is the control: its failures propagate. SQLite is the candidate:
    its failures go to the ledger and the log, never to the caller.

    ``validation="observe"`` (the default, so shadow mode is a drop-in): a document
    that breaks its schema is still written to JSON exactly as given, its violations
    go to the failure ledger (one ``InvalidDocumentError`` entry with every reason),
    and the shadow gets whatever it can hold. ``validation="enforce"``: such a
    document is written nowhere and ``InvalidDocumentError`` names the field.

    Args:
        store: the JSON store (the control).
        shadow: the SQLite shadow (the candidate); it must share the store's mapping.
        ledger: where the shadow's failures go (default: beside the shadow file).
        lock_timeout: seconds to wait for a unit's lock.
        validation: ``"observe"`` or ``"enforce"``.

    Raises:
        UsageError: the stores have different mappings, or an unknown validation mode.
    """

    def __init__(
        self,
        store: JsonStore,
        shadow: SqliteShadow,
        *,
        ledger: FailureLedger | None = None,
        lock_timeout: float = 30.0,
        validation: Validation = "observe",
    ) -> None:
        if store.mapping is not shadow.mapping:
            raise UsageError("the JSON store and the shadow must share one mapping")
        if validation not in VALIDATION_MODES:
            raise UsageError(f"validation {validation!r} is not one of {list(VALIDATION_MODES)}")
        self.store = store
        self.shadow = shadow
        self.mapping = store.mapping
        self.ledger = ledger or FailureLedger(default_ledger_path(shadow.path))
        self.lock_timeout = lock_timeout
        self.validation = validation

    def save_manifest(
        self, manifest: MappingABC[str, Any], *, workspace: str | None = None
    ) -> SaveResult:
        """Validate and save a primary document, then its root row in the shadow.

        Args:
            manifest: the primary document.
            workspace: its unit's folder name (default: the folder already holding the
                document's key, else the key).

        Returns:
            Where the JSON went and what happened to the shadow write.

        Raises:
            InvalidDocumentError: ``enforce`` mode and the document breaks its schema.
            UsageError: no safe unit folder for the document.
            OSError: the JSON write failed (the control's failure propagates).
        """
        return self.save({self.mapping.primary.name: manifest}, workspace=workspace)

    def save_memory(
        self,
        memory: MappingABC[str, Any],
        *,
        workspace: str | None = None,
        mission_id: int | None = None,
    ) -> SaveResult:
        """Save a memory into its unit's folder, as the reference's ``save(memory, mission_id)``.

        The memory belongs to the unit of its folder, whatever its ``project_id`` says.

        Args:
            memory: the memory document.
            workspace: its unit's folder name; default: the unit of mission ``mission_id``.
            mission_id: attach the memory's rows to this mission (``missions.id``);
                without it only the JSON is written (the reference's semantics).

        Returns:
            Where the JSON went and what happened to the shadow write.

        Raises:
            UsageError: neither a workspace nor a known mission says where it goes.
            InvalidDocumentError: ``enforce`` mode and the memory breaks its schema.
        """
        name = self.mapping.companions[0].name
        if workspace is None:
            workspace = self._unit_of_mission(mission_id)
        return self.save(
            {name: memory}, workspace=workspace, shadow=mission_id is not None, root_id=mission_id
        )

    def save_project(
        self,
        manifest: MappingABC[str, Any],
        memory: MappingABC[str, Any] | None = None,
        *,
        workspace: str | None = None,
    ) -> SaveResult:
        """Save a manifest and its memory together: both JSON files, then one shadow transaction.

        Args:
            manifest: the primary document.
            memory: its companion, if any.
            workspace: the unit's folder name (default: the folder already holding the
                manifest's key, else the key).

        Returns:
            Where the JSON went and what happened to the shadow write.

        Raises:
            InvalidDocumentError: ``enforce`` mode and a document breaks its schema.
            UsageError: no safe unit folder for the documents.
            OSError: the JSON write failed (the control's failure propagates).
        """
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
        root_id: int | None = None,
    ) -> SaveResult:
        """The dual write for one unit.

        Args:
            documents: {document name: document} of one unit.
            workspace: the unit's folder name (default: the folder already holding the
                primary document's key, else the key).
            shadow: also write the shadow.
            root_id: attach child rows to this root row instead of the key's.

        Returns:
            Where the JSON went and what happened to the shadow write.

        Raises:
            InvalidDocumentError: ``enforce`` mode and a document breaks its schema, or a
                document no store can hold exactly (either mode).
            UsageError: no safe unit folder for the documents.
            OSError: the JSON write failed (the control's failure propagates).
        """
        key, unit, issues = self._checked(documents, workspace)
        with self.store.lock(unit, timeout=self.lock_timeout):
            return self._write_locked(
                unit, key, documents, shadow=shadow, issues=issues, root_id=root_id
            )

    def update(
        self,
        unit: str,
        change: Callable[[dict[str, Any]], MappingABC[str, MappingABC[str, Any]]],
    ) -> SaveResult:
        """Read-modify-write one unit under its lock.

        Args:
            unit: the unit's folder name.
            change: gets the unit's documents ({name: document}) as they are on disk and
                returns the documents to save.

        Returns:
            Where the JSON went and what happened to the shadow write.

        Raises:
            UsageError: ``unit`` is not a safe folder name.
            InvalidDocumentError: ``enforce`` mode and a changed document breaks its schema.
            OSError: the JSON write failed (the control's failure propagates).
        """
        check_safe_name(unit, "workspace")
        with self.store.lock(unit, timeout=self.lock_timeout):
            current = {}
            for spec in self.mapping.documents():
                path = self.store.path_for(unit, spec.name)
                if path.exists():
                    current[spec.name] = self.store.read(path)
            documents = change(current)
            key, _, issues = self._checked(documents, unit)
            return self._write_locked(unit, key, documents, shadow=True, issues=issues)

    def _checked(
        self, documents: MappingABC[str, MappingABC[str, Any]], workspace: str | None
    ) -> tuple[str, str, list[str]]:
        """Work out (key, unit, schema violations) before any write; ``enforce`` raises
        on a violation, ``observe`` returns them for the ledger."""
        specs = {d.name: d for d in self.mapping.documents()}
        for name in documents:
            if name not in specs:
                raise UsageError(f"mapping {self.mapping.name} has no document {name!r}")
        key = self._key(documents, workspace)
        where = f"{', '.join(documents)} {key}"
        issues: list[str] = []
        for name, doc in documents.items():
            found = self._problems(name, doc, specs[name])
            if found and self.validation == "enforce":
                raise InvalidDocumentError(f"{name} {key or workspace}", found)
            issues += [f"{name} {i}" for i in found] if len(documents) > 1 else found
        if workspace is None and not _is_safe(key):
            raise InvalidDocumentError(
                where, issues or [f"{key!r} is not a safe folder name for its unit"]
            )
        unit = check_safe_name(workspace or self.store.unit_of(key), "workspace")
        if self.validation == "enforce":
            check_safe_name(key, f"{next(iter(documents))} key")
        return key, unit, issues

    def _write_locked(
        self,
        unit: str,
        key: str,
        documents: MappingABC[str, MappingABC[str, Any]],
        *,
        shadow: bool,
        issues: list[str] | None = None,
        root_id: int | None = None,
    ) -> SaveResult:
        """JSON first (its failure propagates), then the shadow (its failure is recorded)."""
        paths = tuple(self.store.path_for(unit, name) for name in documents)
        for path, doc in zip(paths, documents.values(), strict=True):
            self.store.write(path, doc)
        failure = None
        if issues:
            where = f"{', '.join(documents)} {key or unit} ({', '.join(str(p) for p in paths)})"
            every = InvalidDocumentError(where, ["; ".join(issues)])  # one entry, all reasons
            failure = self._record(key or unit, documents, every, what="schema check")
        if not shadow or (not key and root_id is None):
            return SaveResult(unit=unit, paths=paths, shadow_ok=False, failure=failure)
        try:
            with self.shadow.transaction() as conn:
                mission_id = self.shadow.write(conn, key, documents, root_id=root_id)
        except Exception as exc:  # the candidate's failures are recorded, never raised
            failure = self._record(key or unit, documents, exc)
            return SaveResult(unit=unit, paths=paths, shadow_ok=False, failure=failure)
        return SaveResult(
            unit=unit, paths=paths, shadow_ok=True, mission_id=mission_id, failure=failure
        )

    def _key(self, documents: MappingABC[str, MappingABC[str, Any]], workspace: str | None) -> str:
        """The unit's key: the primary document's, else the one of the primary document
        already in the unit's folder (a companion is linked by location, not by an id)."""
        primary = self.mapping.primary
        path = primary.key_path or ""
        if primary.name in documents:
            value = primary.key_of(documents[primary.name])
            if isinstance(value, str) and value:
                return value
            if workspace is not None and self.validation == "observe":
                return ""  # JSON only: the shadow cannot hold a document without its key
            raise InvalidDocumentError(primary.name, [f"/{path}: no document key"])
        if workspace is None:
            name = next(iter(documents), "document")
            raise UsageError(f"{name} saved alone: give workspace= or a known mission_id=")
        check_safe_name(workspace, "workspace")
        file = self.store.path_for(workspace, primary.name)
        if not file.exists():
            return ""
        value = primary.key_of(self.store.read(file))
        return value if isinstance(value, str) else ""

    def _unit_of_mission(self, mission_id: int | None) -> str:
        """The unit folder of a mission: its key, as the writer names folders by default."""
        root = self.mapping.root
        found = None
        if mission_id is not None and self.shadow.path.exists():
            with closing(connect_readonly(self.shadow.path)) as conn:
                found = conn.execute(
                    f"SELECT {quote(root.key_column or '')} FROM {quote(root.table)} WHERE id = ?",
                    (mission_id,),
                ).fetchone()
        if found is None:
            raise UsageError(
                f"memory saved alone: no workspace= given and no mission {mission_id!r} in "
                f"{self.shadow.path}"
            )
        return str(found[0])

    def _problems(self, name: str, doc: Any, spec: DocumentSpec) -> list[str]:
        """Schema violations of one document (its JSON Pointer, then what is wrong)."""
        try:
            orjson.dumps(doc)
        except TypeError as exc:  # e.g. an integer beyond 64 bits: no store keeps it exactly
            raise InvalidDocumentError(name, [f"/: cannot be stored exactly: {exc}"]) from exc
        if not spec.schema or is_valid(doc, spec.schema):
            return []
        return [str(i) for i in validate_document(doc, spec.schema)]

    def _record(
        self,
        key: str,
        documents: MappingABC[str, Any],
        exc: Exception,
        *,
        what: str = "shadow write",
    ) -> LedgerEntry | None:
        one_line = " ".join(str(exc).split())
        log.warning("%s for %s failed: %s: %s", what, key, type(exc).__name__, one_line)
        try:
            return self.ledger.record(key=key, document_hash=document_hash(documents), error=exc)
        except Exception:  # even a failing ledger must not break the application
            log.exception("failure ledger %s could not record %s", self.ledger.path, key)
            return None


def _is_safe(name: str) -> bool:
    return bool(SAFE_NAME.fullmatch(name)) and ".." not in name
