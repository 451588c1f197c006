"""Repair: JSON wins. Plan from an audit's findings, apply unit by unit under the writer's
locks, re-audit.

The plan lists row operations (insert missing rows, delete extra rows, update
mismatched fields) and the units they touch. Execution takes the units in batches
(one file lock per unit, so a store of any size stays within the open-file limit);
under a batch's locks every unit is checked again just before it is changed: its
JSON, as it is now, is what the shadow gets; a unit re-created since the plan is
re-synced instead of deleted, one whose JSON is gone since the plan is left alone;
both are reported. Every row a batch changes is saved first (before-images, one
JSON line per unit), and the batch commits as one transaction.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import orjson

from shadow_audit.clock import utc_stamp
from shadow_audit.engine.findings import AuditResult
from shadow_audit.errors import DatabaseError, ShadowAuditError, UsageError
from shadow_audit.mapping import quote
from shadow_audit.stores.json_store import JsonStore, check_safe_name, no_wider_than
from shadow_audit.stores.rows import unit_rows
from shadow_audit.stores.sqlite_shadow import SqliteShadow
from shadow_audit.text import natural_key, plural
from shadow_audit.validation import validate_document

if TYPE_CHECKING:
    from shadow_audit.config import Config

DEFAULT_BATCH = 64  # units locked (one open file each) and committed together
Fingerprint = tuple[tuple[int, int, int] | None, ...]


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
                f"{_cut(repr(self.shadow_value))} -> {_cut(repr(self.source_value))}"
            )
        return f"{self.op.upper()} {self.entity} {self.key}"

    @property
    def change(self) -> str:
        """What the action does to the shadow's data: ``delete``, ``update`` (a value is
        overwritten), ``insert``, or ``fill`` (an empty column gets its value)."""
        if self.op == "update" and self.shadow_value is None:
            return "fill"
        return self.op


CHANGES = ("delete", "update", "insert", "fill")  # what a plan listing shows first


def _cut(text: str, width: int = 80) -> str:
    return text if len(text) <= width else f"{text[: width - 1]}…"


@dataclass(frozen=True)
class UnitNote:
    """A unit the repair did not treat as planned, and why."""

    key: str
    reason: str

    def __str__(self) -> str:
        return f"{self.key}: {self.reason}"


@dataclass(frozen=True)
class RepairPlan:
    """What the repair would do, and for which units."""

    actions: tuple[RepairAction, ...]
    sync: dict[str, str]  # document key -> unit folder name (JSON present)
    delete: tuple[str, ...]  # document keys whose JSON is gone
    orphans: bool
    invalid_sources: int
    # unit folder name -> its documents' (inode, mtime, size) when planned, None when absent
    fingerprints: dict[str, Fingerprint] = field(default_factory=dict)

    @property
    def empty(self) -> bool:
        """Whether the plan changes nothing."""
        return not self.actions

    @property
    def units(self) -> int:
        """How many units the plan touches: those it re-syncs and those it deletes."""
        return len(self.sync) + len(self.delete)

    def listing(self) -> list[RepairAction]:
        """Return the actions as a person reads them (``actions`` keeps the audit's order).

        Returns:
            Changes to what the shadow holds first (deletes, then overwritten values), then
            what it lacks (inserts, then empty columns filled); each by document, table,
            key with its numbers in order (``proj/2`` before ``proj/10``), then field.
        """
        return sorted(
            self.actions,
            key=lambda a: (
                CHANGES.index(a.change), natural_key(a.key.split("/", 1)[0]), a.entity,
                natural_key(a.key), a.field or "",
            ),
        )  # fmt: skip

    def changes(self) -> dict[str, int]:
        """Return how many actions of each change (``RepairAction.change``) the plan holds.

        Returns:
            ``{change: count}`` in ``CHANGES`` order, only the changes present.
        """
        counts = {change: 0 for change in CHANGES}
        for action in self.actions:
            counts[action.change] += 1
        return {change: n for change, n in counts.items() if n}


@dataclass(frozen=True)
class Execution:
    """What ``execute_repair`` changed and where the before-images are."""

    synced: tuple[str, ...]
    deleted: tuple[str, ...]
    skipped: tuple[UnitNote, ...]
    replanned: tuple[UnitNote, ...]
    before_images: Path


@dataclass(frozen=True)
class RepairOutcome:
    """The whole repair: migration, the audit it planned from, what it did, the re-audit."""

    plan: RepairPlan
    before: AuditResult
    migrated: tuple[str, ...] | None = None
    execution: Execution | None = None
    after: AuditResult | None = None

    @property
    def status(self) -> str:
        """The shadow's status as last audited: GREEN or RED."""
        return (self.after or self.before).status

    @property
    def left(self) -> int:
        """Findings the re-audit still reports on the keys the repair touched."""
        if self.after is None or self.execution is None:
            return 0
        touched = {*self.execution.synced, *self.execution.deleted}
        return sum(1 for f in self.after.findings if f.key.split("/", 1)[0] in touched)

    @property
    def invalid_sources(self) -> int:
        """Invalid source documents in the last audit: repair cannot fix those."""
        return sum(1 for f in (self.after or self.before).findings if f.kind == "invalid_source")

    @property
    def red_because(self) -> str | None:
        """Why the shadow is still RED after the repair (or with nothing to repair), when
        the reason is outside it."""
        executed_or_nothing_to_do = self.execution is not None or self.plan.empty
        if self.status == "GREEN" or not executed_or_nothing_to_do or not self.invalid_sources:
            return None
        rest = sum(1 for f in (self.after or self.before).findings if f.kind != "invalid_source")
        invalid = self.invalid_sources
        why = (
            f"{plural(invalid, 'source document')} {'is' if invalid == 1 else 'are'} invalid: "
            "repair copies valid JSON only; fix them (shadow-audit validate) and repair again"
        )
        if rest:
            why += f"; {plural(rest, 'other finding')} {'remains' if rest == 1 else 'remain'}"
        return why


def _doc_key(key: str, known: set[str]) -> str:
    if key in known:
        return key
    head = key.split("/", 1)[0]
    return head


def fingerprint(store: JsonStore, unit: str) -> Fingerprint:
    """Return (inode, mtime, size) of each of the unit's documents, ``None`` for an absent one.

    Args:
        store: the JSON store.
        unit: the unit's folder name.

    Returns:
        One mark per document of the mapping, primary first; a different fingerprint at
        execution means the unit changed after the plan.

    Raises:
        UsageError: ``unit`` is not a safe folder name.
    """
    marks: list[tuple[int, int, int] | None] = []
    for spec in store.mapping.documents():
        try:
            st = store.path_for(unit, spec.name).stat()
        except FileNotFoundError:
            marks.append(None)
            continue
        marks.append((st.st_ino, st.st_mtime_ns, st.st_size))
    return tuple(marks)


def plan_repair(result: AuditResult, store: JsonStore) -> RepairPlan:
    """Turn an audit's findings into row operations and the units to re-sync.

    Args:
        result: the audit to repair from.
        store: the JSON store it audited.

    Returns:
        The plan, with each unit's fingerprint so a change before execution is noticed.
    """
    mapping = store.mapping
    units: dict[str, str] = {}
    for unit in store.units():
        with contextlib.suppress(ShadowAuditError):
            key = mapping.primary.key_of(store.read(unit.primary))
            if isinstance(key, str):
                units.setdefault(key, unit.name)
    actions: list[RepairAction] = []
    touched: set[str] = set()
    orphans = False
    known = set(units)
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
        touched.add(_doc_key(f.key, known))
    sync = {k: units[k] for k in sorted(touched) if k in units}
    delete = tuple(sorted(k for k in touched if k not in units))
    invalid = sum(1 for f in result.findings if f.kind == "invalid_source")
    marks: dict[str, Fingerprint] = {}
    for name in [*sync.values(), *delete]:
        with contextlib.suppress(UsageError):  # an unsafe name is skipped at execution
            marks[name] = fingerprint(store, name)
    return RepairPlan(tuple(actions), sync, delete, orphans, invalid, marks)


def _snapshot(shadow: SqliteShadow, conn: Any, keys: list[str]) -> dict[str, Any]:
    """Every row of these units, per table, before anything changes."""
    images = {key: unit_rows(conn, shadow.mapping, key) for key in keys}
    return {key: tables for key, tables in images.items() if tables}


@dataclass
class _Run:
    """The state of one execution: what was done so far, and the before-images file."""

    store: JsonStore
    shadow: SqliteShadow
    plan: RepairPlan
    images: int  # file descriptor, append-only
    synced: list[str] = field(default_factory=list)
    deleted: list[str] = field(default_factory=list)
    skipped: list[UnitNote] = field(default_factory=list)
    replanned: list[UnitNote] = field(default_factory=list)

    def batch(self, conn: Any, work: list[tuple[str, str, bool]]) -> None:
        """Under the locks of these units: check each again, save its rows, change it."""
        store = self.store
        with self.shadow.transaction(conn):
            images = _snapshot(self.shadow, conn, [key for key, _, _ in work])
            lines = [
                orjson.dumps({"key": key, "taken_at": utc_stamp(), "tables": tables})
                for key, tables in images.items()
            ]
            if lines:
                os.write(self.images, b"\n".join(lines) + b"\n")
                os.fsync(self.images)
            for key, unit, planned_sync in work:
                now = fingerprint(store, unit)
                changed = now != self.plan.fingerprints.get(unit)
                present = now[0] is not None
                if planned_sync and not present:
                    self.skipped.append(UnitNote(key, "its JSON is gone since the plan; left"))
                elif present:
                    problem = self._sync(conn, key, unit)
                    if problem:
                        self.skipped.append(UnitNote(key, problem))
                    elif not planned_sync:
                        self.replanned.append(
                            UnitNote(key, "re-created since the plan: re-synced, not deleted")
                        )
                    elif changed:
                        self.replanned.append(
                            UnitNote(key, "changed since the plan: re-synced from its JSON now")
                        )
                else:
                    self.shadow.delete(conn, key)
                    self.deleted.append(key)

    def _sync(self, conn: Any, key: str, unit: str) -> str | None:
        """Write the unit's JSON as it is now; the reason when it cannot be used."""
        mapping = self.store.mapping
        docs: dict[str, Any] = {}
        for spec in mapping.documents():
            path = self.store.path_for(unit, spec.name)
            if not path.exists():
                continue
            try:
                doc = self.store.read(path)
            except ShadowAuditError as exc:
                return f"source invalid now: {exc}"
            issues = validate_document(doc, spec.schema) if spec.schema else []
            if issues:
                return f"source invalid now: {path}: {issues[0]}"
            docs[spec.name] = doc
        found = mapping.primary.key_of(docs.get(mapping.primary.name))
        if found != key:
            return f"its key is now {found!r}, not {key!r}; left for the next audit"
        self.shadow.write(conn, key, docs, complete=True)
        self.synced.append(key)
        return None


def execute_repair(
    plan: RepairPlan,
    store: JsonStore,
    shadow: SqliteShadow,
    *,
    before_images: Path,
    force: bool = False,
    batch: int = DEFAULT_BATCH,
    mode: int = 0o600,
) -> Execution:
    """Apply the plan batch by batch, each batch under its units' locks and in one transaction.

    Args:
        plan: from ``plan_repair``.
        store: the JSON store (the truth).
        shadow: the database to repair.
        before_images: a new file for the rows as they were (JSON lines, one per unit).
        force: delete units even while source documents are invalid.
        batch: units locked and committed together (each lock holds one open file).
        mode: permission bits of the before-images file.

    Returns:
        What was synced, deleted, skipped or re-planned (with reasons).

    Raises:
        UsageError: deletes are planned while sources are invalid and ``force`` is not set.
    """
    if plan.invalid_sources and plan.delete and not force:
        raise UsageError(
            f"refusing to delete {plural(len(plan.delete), 'unit')} from the shadow while "
            f"{plural(plan.invalid_sources, 'source document')} "
            f"{'is' if plan.invalid_sources == 1 else 'are'} invalid (their keys may be among "
            "them); fix the sources or pass --force"
        )
    if batch < 1:
        raise UsageError(f"batch {batch}: must be at least 1")
    work: list[tuple[str, str, bool]] = []  # (key, unit folder, planned sync?)
    skipped: list[UnitNote] = []
    for key, unit, planned_sync in [
        *((k, u, True) for k, u in plan.sync.items()),
        *((k, k, False) for k in plan.delete),
    ]:
        try:
            check_safe_name(unit, "workspace")
        except UsageError as exc:
            skipped.append(UnitNote(key, f"skipped: {exc}"))
            continue
        work.append((key, unit, planned_sync))
    work.sort(key=lambda w: w[1])
    before_images.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(before_images, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_APPEND, mode)
    run = _Run(store, shadow, plan, fd, skipped=skipped)
    try:
        with shadow.connection() as conn:
            for start in range(0, len(work), batch):
                chunk = work[start : start + batch]
                # folders of deleted units that hold nothing of theirs: the lock makes them
                spare = {unit for _, unit, sync in chunk if not sync and store.only_lock_left(unit)}
                with contextlib.ExitStack() as locks:
                    for _, unit, _ in chunk:
                        locks.enter_context(store.lock(unit))
                    done = len(run.deleted)
                    run.batch(conn, chunk)  # committed: what is left under the locks is cleanup
                    for key in run.deleted[done:]:
                        if key in spare:
                            store.drop_lock_folder(key)
            if plan.orphans:
                with shadow.transaction(conn):
                    _delete_orphans(shadow, conn)
    finally:
        os.close(fd)
    return Execution(
        tuple(run.synced),
        tuple(run.deleted),
        tuple(run.skipped),
        tuple(run.replanned),
        before_images,
    )


def _delete_orphans(shadow: SqliteShadow, conn: Any) -> None:
    mapping = shadow.mapping
    for e in mapping.entities:
        if e.is_root:
            continue
        parent = mapping.entity(e.parent or "")
        conn.execute(
            f"DELETE FROM {quote(e.table)} WHERE {quote(e.link_column or '')} NOT IN "
            f"(SELECT {quote(e.parent_column)} FROM {quote(parent.table)})"
        )


def _keyed_as_found(db: SqliteShadow, config: Config) -> Config:
    """The config with each table keyed as the database keys it now (``as_stored``)."""
    mapping = config.mapping
    with db.connection() as conn:
        for entity in mapping.entities:
            stored = db.as_stored(conn, entity)
            if stored is not entity:
                mapping = mapping.with_entity(stored)
    return dataclasses.replace(config, mapping=mapping)


def repair(
    source: Path | str,
    shadow: Path | str,
    *,
    config: Config | None = None,
    execute: bool = False,
    migrate: bool = False,
    force: bool = False,
    out: Path | str = Path("reports"),
    batch: int = DEFAULT_BATCH,
    on_plan: Callable[[RepairPlan], None] | None = None,
) -> RepairOutcome:
    """The repair workflow: migrate, audit, plan, execute, re-audit. Dry run by default.

    Args:
        source: the JSON store's folder (the truth).
        shadow: the SQLite database to repair; it must exist.
        config: mapping and options (default: the built-in profile).
        execute: apply the plan; otherwise only plan.
        migrate: with ``execute``, first bring the schema to the mapping's DDL.
        force: delete units even while source documents are invalid.
        out: folder for the before-images (``repair-<time>.before.jsonl``).
        batch: units locked and committed together.
        on_plan: called with the plan as soon as it is made, before anything changes.

    Returns:
        The outcome: plan, audits before and after, what changed, why still RED.

    Raises:
        DatabaseError: the shadow is missing or not SQLite.
        UsageError: deletes refused while sources are invalid (see ``force``).
    """
    from shadow_audit.config import Config
    from shadow_audit.engine.run import audit

    config = config or Config()
    if not Path(shadow).is_file():
        raise DatabaseError(f"database {shadow}: no such file")
    from shadow_audit.engine.roles import truth_of

    if truth_of(shadow) == "sqlite":  # JSON is the copy now: never overwrite the truth from it
        raise UsageError(
            f"database {shadow}: SQLite is the truth (sqlite-primary on); the JSON copy is "
            "repaired from it (shadow_audit.export.repair_json, or shadow-audit repair)"
        )
    db = SqliteShadow(shadow, config.mapping, create=False)
    # the plan names rows by the keys the database had when the repair began, as the audit
    # the user read did: a migration that gives a reference-v2 table its list position
    # must not renumber them (session 1 would become position 0)
    as_found = _keyed_as_found(db, config) if migrate and execute else config
    migrated = tuple(db.migrate()) if migrate and execute else None
    store = JsonStore(source, config.mapping)
    before = audit(source, shadow, config=as_found)
    plan = plan_repair(before, store)
    if on_plan is not None:
        on_plan(plan)
    if not execute or plan.empty:
        return RepairOutcome(plan, before, migrated)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%fZ")
    execution = execute_repair(
        plan, store, db, before_images=Path(out) / f"repair-{stamp}.before.jsonl",
        force=force, batch=batch, mode=no_wider_than(source),
    )  # fmt: skip
    after = audit(source, shadow, config=config)
    return RepairOutcome(plan, before, migrated, execution, after)
