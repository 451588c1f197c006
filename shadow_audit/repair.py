"""Repair: JSON wins. Plan from an audit's findings, apply in one transaction, re-audit.

The plan lists row operations (insert missing rows, delete extra rows, update
mismatched fields). Execution re-syncs each affected unit from its JSON under
the unit's lock, exactly as the writer would have written it, deletes units
whose JSON is gone, and saves every row it changes (before-images) first.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson

from shadow_audit.engine.findings import AuditResult
from shadow_audit.errors import ShadowAuditError, UsageError
from shadow_audit.mapping import get_path, quote, split_path
from shadow_audit.stores.json_store import JsonStore, atomic_write
from shadow_audit.stores.sqlite_shadow import SqliteShadow, table_columns
from shadow_audit.validation import validate_document


@dataclass(frozen=True)
class RepairAction:
    """One row operation the repair will make."""

    op: str  # insert | delete | update
    entity: str
    key: str
    field: str | None = None
    shadow_value: Any = None
    source_value: Any = None

    def __str__(self) -> str:
        if self.op == "update":
            return (
                f"UPDATE {self.entity} {self.key} {self.field}: "
                f"{self.shadow_value!r} -> {self.source_value!r}"
            )
        return f"{self.op.upper()} {self.entity} {self.key}"


@dataclass(frozen=True)
class RepairPlan:
    """What the repair would do, and for which units."""

    actions: tuple[RepairAction, ...]
    sync: dict[str, str]  # document key -> unit folder name (JSON present)
    delete: tuple[str, ...]  # document keys whose JSON is gone
    orphans: bool
    invalid_sources: int

    @property
    def empty(self) -> bool:
        return not self.actions


@dataclass(frozen=True)
class RepairOutcome:
    """What the repair changed and where the before-images are."""

    synced: tuple[str, ...]
    deleted: tuple[str, ...]
    skipped: tuple[str, ...]
    before_images: Path


def _doc_key(key: str, known: set[str]) -> str:
    if key in known:
        return key
    head = key.split("/", 1)[0]
    return head


def plan_repair(result: AuditResult, store: JsonStore) -> RepairPlan:
    """Turn an audit's findings into row operations and the units to re-sync."""
    mapping = store.mapping
    units: dict[str, str] = {}
    for unit in store.units():
        with contextlib.suppress(ShadowAuditError):
            key = get_path(store.read(unit.primary), split_path(mapping.primary.key_path or ""))
            if isinstance(key, str):
                units.setdefault(key, unit.name)
    actions: list[RepairAction] = []
    touched: set[str] = set()
    orphans = False
    for f in result.findings:
        if f.kind == "missing_in_shadow":
            actions.append(RepairAction("insert", f.entity, f.key))
        elif f.kind == "extra_in_shadow":
            actions.append(RepairAction("delete", f.entity, f.key))
        elif f.kind == "value_mismatch":
            actions.append(
                RepairAction("update", f.entity, f.key, f.field, f.shadow_value, f.source_value)
            )
        else:
            continue
        if f.key.startswith("<orphan "):
            orphans = True
            continue
        touched.add(_doc_key(f.key, set(units)))
    sync = {k: units[k] for k in sorted(touched) if k in units}
    delete = tuple(sorted(k for k in touched if k not in units))
    invalid = sum(1 for f in result.findings if f.kind == "invalid_source")
    return RepairPlan(tuple(actions), sync, delete, orphans, invalid)


def _snapshot(shadow: SqliteShadow, conn: Any, keys: list[str]) -> dict[str, Any]:
    """Every row of these units, per table, before anything changes."""
    root = shadow.mapping.root
    images: dict[str, Any] = {}
    for key in keys:
        row = conn.execute(
            f"SELECT * FROM {quote(root.table)} WHERE {quote(root.key_column or '')} = ?", (key,)
        ).fetchone()
        if row is None:
            continue
        parent_id = row[0]
        tables: dict[str, Any] = {
            root.table: [dict(zip(table_columns(conn, root.table), row, strict=True))]
        }
        for e in shadow.mapping.entities:
            if e.is_root:
                continue
            link = parent_id if e.parent_column == "id" else key
            cols = table_columns(conn, e.table)
            rows = conn.execute(
                f"SELECT * FROM {quote(e.table)} WHERE {quote(e.link_column or '')} = ?", (link,)
            ).fetchall()
            tables[e.table] = [dict(zip(cols, r, strict=True)) for r in rows]
        images[key] = tables
    return images


def execute_repair(
    plan: RepairPlan,
    store: JsonStore,
    shadow: SqliteShadow,
    *,
    before_images: Path,
    force: bool = False,
) -> RepairOutcome:
    """Apply the plan in one transaction, holding every affected unit's lock."""
    if plan.invalid_sources and plan.delete and not force:
        raise UsageError(
            f"refusing to delete {len(plan.delete)} units from the shadow while "
            f"{plan.invalid_sources} source documents are invalid (their keys may be among "
            "them); fix the sources or pass --force"
        )
    mapping = store.mapping
    synced: list[str] = []
    skipped: list[str] = []
    with contextlib.ExitStack() as locks:
        for unit in sorted(plan.sync.values()):
            locks.enter_context(store.lock(unit))
        before_images.parent.mkdir(parents=True, exist_ok=True)
        with shadow.transaction() as conn:
            images = _snapshot(shadow, conn, [*plan.sync, *plan.delete])
            atomic_write(
                before_images,
                orjson.dumps(
                    {"taken_at": datetime.now(UTC).isoformat(), "units": images},
                    option=orjson.OPT_INDENT_2,
                ),
            )
            for key, unit in plan.sync.items():
                docs: dict[str, Any] = {}
                for spec in mapping.documents():
                    path = store.path_for(unit, spec.name)
                    if not path.exists():
                        continue
                    doc = store.read(path)
                    if spec.schema and validate_document(doc, spec.schema):
                        docs = {}
                        break
                    docs[spec.name] = doc
                if mapping.primary.name not in docs:
                    skipped.append(key)
                    continue
                shadow.write(conn, key, docs, complete=True)
                synced.append(key)
            for key in plan.delete:
                shadow.delete(conn, key)
            if plan.orphans:
                for e in mapping.entities:
                    if e.is_root:
                        continue
                    parent = mapping.entity(e.parent or "")
                    conn.execute(
                        f"DELETE FROM {quote(e.table)} WHERE {quote(e.link_column or '')} NOT IN "
                        f"(SELECT {quote(e.parent_column)} FROM {quote(parent.table)})"
                    )
    return RepairOutcome(tuple(synced), plan.delete, tuple(skipped), before_images)
