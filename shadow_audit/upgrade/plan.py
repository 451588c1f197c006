"""Plan an upgrade over a source folder (read only), and execute it through the dual
writer: before-images first, then JSON and shadow together, one unit at a time."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Mapping as MappingABC
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from shadow_audit.clock import file_stamp
from shadow_audit.dualwrite import DualWriter
from shadow_audit.errors import ShadowAuditError, SourceError
from shadow_audit.profiles import DEFAULT_DB_PATH, REFERENCE
from shadow_audit.stores.json_store import JsonStore, atomic_write, locate, no_wider_than
from shadow_audit.stores.sqlite_shadow import SqliteShadow
from shadow_audit.upgrade.chain import DocumentUpgrade, upgrade_document
from shadow_audit.upgrade.model import StepContext, parse_timezone
from shadow_audit.validation import parse_json


@dataclass(frozen=True)
class PlannedDocument:
    """One document of one unit: where it is and what the chain makes of it."""

    unit: str
    name: str
    path: Path
    upgrade: DocumentUpgrade


@dataclass(frozen=True)
class UpgradePlan:
    """Every manifest and memory under ``source`` with its upgrade; nothing written."""

    source: Path
    timezone: str | None
    documents: tuple[PlannedDocument, ...]

    @property
    def to_write(self) -> list[PlannedDocument]:
        """The documents the upgrade changes."""
        return [d for d in self.documents if d.upgrade.changed]

    @property
    def refused(self) -> list[PlannedDocument]:
        """The documents a step refused."""
        return [d for d in self.documents if d.upgrade.refused]

    @property
    def current(self) -> list[PlannedDocument]:
        """The documents already current: neither changed nor refused."""
        return [d for d in self.documents if not d.upgrade.changed and not d.upgrade.refused]


@dataclass(frozen=True)
class UpgradeOutcome:
    """What ``execute_upgrade`` wrote, what it held back (and why), where the
    before-images are, and the shadow writes that failed (they are in the ledger)."""

    written: tuple[Path, ...]
    held_back: tuple[tuple[Path, str], ...]
    shadow_failures: tuple[str, ...]
    before_images: Path | None


@dataclass(frozen=True)
class UpgradeReport:
    """A dry run (``outcome`` None) or an executed upgrade."""

    plan: UpgradePlan
    outcome: UpgradeOutcome | None = None
    shadow: Path | None = None

    def to_dict(self) -> dict[str, Any]:
        """The run as JSON-ready data: each document's outcome, what was written."""
        source = self.plan.source
        data: dict[str, Any] = {
            "source": str(source),
            "mode": "dry-run" if self.outcome is None else "execute",
            "assumed_timezone": self.plan.timezone,
            "documents": [
                {"path": d.path.relative_to(source).as_posix(), **d.upgrade.to_dict()}
                for d in self.plan.documents
            ],
            "exit_code": self.exit_code,
        }
        if self.outcome is not None:
            data["written"] = [p.relative_to(source).as_posix() for p in self.outcome.written]
            data["held_back"] = {
                p.relative_to(source).as_posix(): r for p, r in self.outcome.held_back
            }
            data["before_images"] = (
                str(self.outcome.before_images) if self.outcome.before_images else None
            )
            data["shadow_failures"] = list(self.outcome.shadow_failures)
        return data

    @property
    def exit_code(self) -> int:
        """0 nothing to do / all written; 1 something would change, or was refused."""
        if self.outcome is None:
            return 1 if self.plan.to_write or self.plan.refused else 0
        return 1 if self.plan.refused or self.outcome.held_back else 0


def _memory_paths(folder: Path) -> list[Path]:
    """Where a unit's memory may be: ``.vibe/`` (where the reference writes it) or beside
    the manifest."""
    return [Path(p) for p in locate(folder, REFERENCE.companions[0]) if Path(p).is_file()]


def _read(path: Path) -> Any:
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise SourceError(f"{path}: cannot read: {exc.strerror or exc}") from exc
    return parse_json(data, str(path))


def plan_upgrade(source: Path | str, *, assume_timezone: str | None = None) -> UpgradePlan:
    """Read every manifest and memory under ``source`` and run the chain over each.

    Args:
        source: the folder of workspaces (``<ws>/project_manifest.json``, memories in
            ``<ws>/.vibe/`` or beside the manifest).
        assume_timezone: zone for naive timestamps (zoneinfo name or offset); None
            refuses documents that have them.

    Returns:
        The plan; nothing is written.

    Raises:
        SourceError: the folder holds no documents, or a document cannot be read or is
            not JSON (nothing is planned past a document whose shape cannot be known).
        UsageError: ``assume_timezone`` is neither a zone nor an offset.
    """
    zone = parse_timezone(assume_timezone) if assume_timezone is not None else None
    store = JsonStore(source, REFERENCE)
    planned: list[PlannedDocument] = []
    for unit in store.units():
        context = StepContext(unit=unit.folder.name, timezone=zone)
        found = [(REFERENCE.primary, unit.primary)]
        found += [(REFERENCE.companions[0], p) for p in _memory_paths(unit.folder)]
        for spec, path in found:
            document = _read(path)
            upgrade = upgrade_document(document, spec.schema or spec.name, context=context)
            planned.append(PlannedDocument(unit.name, spec.name, path, upgrade))
    if not planned:
        raise SourceError(f"{source}: no documents found (looked for {REFERENCE.primary.pattern})")
    return UpgradePlan(Path(source), zone.name if zone else None, tuple(planned))


class _ChangedOnDisk(ShadowAuditError):
    """A document changed between the plan and the write; it is left as it is."""


class _BeforeImages:
    """One folder per run; a copy of each file's bytes before it is replaced, with
    permissions no wider than the source folder's."""

    def __init__(self, root: Path, source: Path) -> None:
        self.root, self.source = root, source
        self.folder: Path | None = None

    def keep(self, path: Path) -> None:
        if self.folder is None:
            self.root.mkdir(parents=True, exist_ok=True)
            stamp = file_stamp()
            self.folder = Path(tempfile.mkdtemp(prefix=f"upgrade-{stamp}-", dir=self.root))
        target = self.folder / path.relative_to(self.source)
        dir_mode = self.source.stat().st_mode & 0o777
        for parent in reversed(target.relative_to(self.folder).parents):
            folder = self.folder / parent
            if not folder.is_dir():
                folder.mkdir()
                os.chmod(folder, dir_mode)
        atomic_write(target, path.read_bytes(), mode=no_wider_than(self.source))


def _unit_documents(plan: UpgradePlan) -> dict[str, list[PlannedDocument]]:
    units: dict[str, list[PlannedDocument]] = {}
    for doc in plan.documents:
        units.setdefault(doc.unit, []).append(doc)
    return units


def execute_upgrade(
    plan: UpgradePlan, writer: DualWriter, *, before_images: Path
) -> UpgradeOutcome:
    """Write every upgraded document through ``writer``, one unit at a time.

    Under the unit's lock each document is read again and must still be what was
    planned; its bytes are copied to the before-image folder; then the writer saves the
    unit's upgraded documents (JSON, then the shadow). A unit whose manifest is refused
    keeps its memory too (a memory is saved with its manifest); a unit whose documents
    changed since the plan, or that the writer refuses, is left as it is.

    Args:
        plan: from ``plan_upgrade``.
        writer: a dual writer over the plan's source folder and the shadow.
        before_images: folder under which this run's before-images folder is made.

    Returns:
        What was written and held back, the before-image folder, shadow failures.
    """
    images = _BeforeImages(before_images, plan.source)
    written: list[Path] = []
    held: list[tuple[Path, str]] = []
    failures: list[str] = []
    store = writer.store
    primary = REFERENCE.primary.name
    for unit, docs in _unit_documents(plan).items():
        changed = [d for d in docs if d.upgrade.changed]
        if not changed:
            continue
        manifest = next(d for d in docs if d.name == primary)
        if manifest.upgrade.refused:
            held += [(d.path, "its manifest is refused") for d in changed]
            continue
        to_save = {d.name: d for d in changed}
        to_save.setdefault(primary, manifest)
        wrong = [d for d in to_save.values() if store.path_for(unit, d.name) != d.path]
        if wrong:
            where = store.path_for(unit, wrong[0].name)
            held += [(d.path, f"the writer would write it to {where}") for d in changed]
            continue

        def change(
            current: dict[str, Any], to_save: dict[str, PlannedDocument] = to_save
        ) -> MappingABC[str, MappingABC[str, Any]]:
            for name, planned in to_save.items():
                if current.get(name) != planned.upgrade.before:
                    raise _ChangedOnDisk(f"{planned.path}: changed since it was read")
            for planned in to_save.values():
                images.keep(planned.path)
            ordered = sorted(to_save.values(), key=lambda d: d.name != primary)
            return {d.name: d.upgrade.after for d in ordered}

        try:
            result = writer.update(unit, change)
        except ShadowAuditError as exc:
            held += [(d.path, str(exc)) for d in changed]
            continue
        written += [d.path for d in changed]
        if not result.shadow_ok and result.failure is not None:
            failures.append(f"{unit}: {result.failure.error_class}: {result.failure.message}")
    return UpgradeOutcome(tuple(written), tuple(held), tuple(failures), images.folder)


def upgrade(
    source: Path | str,
    *,
    execute: bool = False,
    shadow: Path | str = DEFAULT_DB_PATH,
    before_images: Path | str = "reports",
    assume_timezone: str | None = None,
) -> UpgradeReport:
    """Plan the upgrade of every legacy document under ``source``; with ``execute``,
    write it through the dual writer so the shadow follows.

    Args:
        source: the folder of workspaces.
        execute: write (default: a dry run that writes nothing).
        shadow: the SQLite shadow the writer keeps in step (created when absent).
        before_images: where this run's before-image folder goes.
        assume_timezone: zone for naive timestamps; without it they are refused.

    Returns:
        The plan, and on ``execute`` what was written.

    Raises:
        SourceError: the folder or a document cannot be read or parsed.
        UsageError: a bad ``assume_timezone``.
    """
    plan = plan_upgrade(source, assume_timezone=assume_timezone)
    if not execute:
        return UpgradeReport(plan)
    if not plan.to_write:
        return UpgradeReport(plan, UpgradeOutcome((), (), (), None), Path(shadow))
    writer = DualWriter(  # an upgrade writes only documents that validate
        JsonStore(source, REFERENCE), SqliteShadow(shadow, REFERENCE), validation="enforce"
    )
    outcome = execute_upgrade(plan, writer, before_images=Path(before_images))
    return UpgradeReport(plan, outcome, Path(shadow))
