"""The one-minute demo: a realistic store, the reference system's failure modes, audit,
repair, gate. The library part returns what happened; the CLI tells it."""

from __future__ import annotations

import copy
import shutil
import sqlite3
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from shadow_audit.dualwrite import DualWriter
from shadow_audit.errors import UsageError
from shadow_audit.gate import GateDecision, run_gate
from shadow_audit.ledger import FailureLedger, default_ledger_path
from shadow_audit.profiles import REFERENCE_V2_DDL
from shadow_audit.stores.json_store import JsonStore
from shadow_audit.stores.sqlite_shadow import SqliteShadow
from shadow_audit.synth import make_projects

MARKER = ".shadow-audit-demo"


@dataclass(frozen=True)
class DemoStore:
    """Where the demo put things."""

    root: Path
    source: Path
    shadow: Path
    ledger: Path
    reports: Path
    projects: int

    @property
    def history(self) -> Path:
        """The demo's run history."""
        return self.reports / "history.db"

    def run_reports(self) -> list[Path]:
        """Every run's HTML report, oldest first."""
        return sorted((self.reports / "runs").glob("*/report.html"))

    def writer(self) -> DualWriter:
        """The application's dual writer over the demo's stores."""
        return DualWriter(
            JsonStore(self.source),
            SqliteShadow(self.shadow, create=False),
            ledger=FailureLedger(self.ledger),
        )


@dataclass(frozen=True)
class Incident:
    """One failure mode of the reference system, reproduced on one project."""

    name: str
    key: str
    what: str


def fresh_folder(root: Path) -> None:
    """Make ``root`` empty: a previous demo folder is replaced, anything else is refused.

    Args:
        root: the demo folder.

    Raises:
        UsageError: ``root`` holds something that is not a previous demo.
    """
    if root.exists():
        if not (root / MARKER).exists() and any(root.iterdir()):
            raise UsageError(f"demo folder {root}: exists and is not a demo folder; pick --dir")
        shutil.rmtree(root)
    root.mkdir(parents=True)
    (root / MARKER).write_text("made by shadow-audit demo; safe to delete\n")


def build_demo_store(
    root: Path | str, *, projects: int = 25, seed: int = 7, reference_schema: bool = True
) -> DemoStore:
    """Generated projects dual-written by the real writer into a fresh folder.

    With ``reference_schema`` the database starts as the reference system's schema v2
    (no columns for several paths, narrow CHECKs), the database a team migrating has.

    Args:
        root: the demo folder (emptied first; see ``fresh_folder``).
        projects: how many projects to write.
        seed: the generator's seed.
        reference_schema: start from the reference system's schema v2.

    Returns:
        Where the demo put things: source, shadow, ledger, reports.

    Raises:
        UsageError: ``root`` holds something that is not a previous demo.
    """
    base = Path(root)
    fresh_folder(base)
    shadow = base / ".vibe" / "state" / "vibe_agency.db"
    shadow.parent.mkdir(parents=True)
    if reference_schema:
        with sqlite3.connect(shadow) as conn:
            conn.executescript(REFERENCE_V2_DDL)
        conn.close()
    else:
        SqliteShadow(shadow)
    store = DemoStore(
        root=base,
        source=base / "workspaces",
        shadow=shadow,
        ledger=default_ledger_path(shadow),
        reports=base / "reports",
        projects=projects,
    )
    writer = store.writer()
    for manifest, memory in make_projects(projects, seed=seed, sessions=8, concepts=5, concerns=3):
        writer.save_project(manifest, memory)
    return store


def inject_incidents(store: DemoStore) -> list[Incident]:
    """Reproduce, one project each, the reference system's failure modes (DESIGN.md §1).

    Args:
        store: a store from ``build_demo_store``.

    Returns:
        What was done to which project.

    Raises:
        UsageError: fewer than 5 projects.
    """
    if store.projects < 5:
        raise UsageError("the demo needs at least 5 projects to show every failure mode")
    writer = store.writer()
    source = JsonStore(store.source)
    keys = [u.name for u in source.units()]
    incidents = []

    def load(key: str, name: str) -> Any:
        return source.read(source.path_for(key, name))

    # 1. a phase the reference schema's CHECK rejects: the shadow write fails, only logged
    key = keys[0]
    manifest = load(key, "manifest")
    manifest["status"]["projectPhase"] = "AWAITING_CODE_GENERATION"
    result = writer.save_manifest(manifest)
    incidents.append(
        Incident(
            "CHECK-rejected phase",
            key,
            "phase AWAITING_CODE_GENERATION saved; the shadow's CHECK refused it "
            f"({'ledger entry written' if result.failure else 'no ledger entry?'})",
        )
    )
    # 2. an out-of-band JSON edit: someone edits the file, the shadow never hears of it
    key = keys[1]
    memory = load(key, "memory")
    memory["narrative"][0]["summary"] = "Edited by hand in the JSON file"
    source.write(source.path_for(key, "memory"), memory)
    incidents.append(Incident("out-of-band JSON edit", key, "a narrative summary edited by hand"))
    # 3. a racing writer without a lock: the older version lands in SQLite last
    key = keys[2]
    older = load(key, "manifest")
    newer = copy.deepcopy(older)
    newer["status"]["message"] = "newer version, written second to JSON"
    newer["budget"]["current_cost_usd"] = round(newer["budget"]["current_cost_usd"] + 3.5, 4)
    writer.save_manifest(newer)
    SqliteShadow(store.shadow, create=False).import_manifest(older)  # the loser of the race
    incidents.append(Incident("racing writer", key, "the shadow kept the older of two saves"))
    # 4. a manual SQL edit
    key = keys[3]
    with sqlite3.connect(store.shadow) as conn:
        conn.execute("UPDATE missions SET owner = 'dba@example.com' WHERE mission_uuid = ?", (key,))
    conn.close()
    incidents.append(Incident("manual SQL edit", key, "owner changed with an UPDATE"))
    # 5. a deleted workspace: its rows stay in the shadow
    key = keys[4]
    shutil.rmtree(source.path_for(key, "manifest").parent)
    incidents.append(Incident("deleted workspace", key, "workspace folder removed from disk"))
    return incidents


def gate_demo(store: DemoStore) -> tuple[GateDecision, tuple[Path, Path]]:
    """The cutover gate (``gate.run_gate``) over the demo's shadow, source, history and
    ledger, with the default (strict) policy; gate.json and gate.md go to its reports.

    Args:
        store: a demo store whose audits were recorded in ``store.history``.

    Returns:
        The decision (NOT READY after a demo: its history is two runs long) and the paths
        of gate.json and gate.md.
    """
    return run_gate(
        shadow=store.shadow,
        source=store.source,
        history=store.history,
        ledger=store.ledger,
        out=store.reports,
    )
