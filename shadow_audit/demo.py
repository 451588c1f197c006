"""The one-minute demo store: generated projects dual-written with the real writer."""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

from shadow_audit.dualwrite import DualWriter
from shadow_audit.errors import UsageError
from shadow_audit.ledger import FailureLedger, default_ledger_path
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
    projects: int

    def writer(self) -> DualWriter:
        return DualWriter(
            JsonStore(self.source), SqliteShadow(self.shadow), ledger=FailureLedger(self.ledger)
        )


def fresh_folder(root: Path) -> None:
    """Make ``root`` empty: a previous demo folder is replaced, anything else is refused."""
    if root.exists():
        if not (root / MARKER).exists() and any(root.iterdir()):
            raise UsageError(f"demo folder {root}: exists and is not a demo folder; pick --dir")
        shutil.rmtree(root)
    root.mkdir(parents=True)
    (root / MARKER).write_text("made by shadow-audit demo; safe to delete\n")


def build_demo_store(root: Path | str, *, projects: int = 25, seed: int = 7) -> DemoStore:
    """A fresh store of ``projects`` generated projects, each saved through the dual writer."""
    base = Path(root)
    fresh_folder(base)
    shadow = base / ".vibe" / "state" / "vibe_agency.db"
    store = DemoStore(
        root=base,
        source=base / "workspaces",
        shadow=shadow,
        ledger=default_ledger_path(shadow),
        projects=projects,
    )
    writer = store.writer()
    for manifest, memory in make_projects(projects, seed=seed, sessions=8, concepts=5, concerns=3):
        writer.save_project(manifest, memory)
    return store
