"""A real application process for the reliability tests: saves versioned projects in a loop
and reports each completed save on stdout ("<index>\\n"), so a test can kill it anywhere.

    python writer_process.py ROOT PROJECTS START COUNT [--ledger-every N] [--update]
"""

from __future__ import annotations

import copy
import random
import sys
from pathlib import Path
from typing import Any

from shadow_audit.dualwrite import DualWriter
from shadow_audit.stores.json_store import JsonStore
from shadow_audit.stores.sqlite_shadow import SqliteShadow
from shadow_audit.synth import make_project


def versioned(project: int, version: int) -> tuple[dict[str, Any], dict[str, Any]]:
    """Version ``version`` of project ``project``: deterministic, growing with the version."""
    manifest, memory = make_project(
        project, random.Random(project), sessions=2, concepts=3, concerns=2
    )
    manifest["spec"]["vibe"]["version"] = version
    manifest["status"]["message"] = f"version {version} " + "x" * (version % 50) * 40
    base = copy.deepcopy(memory["narrative"][0])
    memory["narrative"] = [
        dict(base, session=s, summary=f"v{version} s{s}") for s in range(1, version % 30 + 2)
    ]
    memory["trajectory"]["current_focus"] = f"version {version}"
    return manifest, memory


def main(argv: list[str]) -> None:
    root, projects, start, count = Path(argv[0]), int(argv[1]), int(argv[2]), int(argv[3])
    ledger_every = int(argv[argv.index("--ledger-every") + 1]) if "--ledger-every" in argv else 0
    writer = DualWriter(JsonStore(root / "src"), SqliteShadow(root / "s.db", create=False))
    for i in range(start, start + count):
        project, version = i % projects, i // projects + 1
        writer.save_project(*versioned(project, version))
        if ledger_every and i % ledger_every == 0:
            writer.ledger.record(key=f"proj-{project:06d}", document_hash="0" * 64,
                                 error=RuntimeError(f"synthetic failure {i} " + "y" * 200))  # fmt: skip
        sys.stdout.write(f"{i}\n")
        sys.stdout.flush()


if __name__ == "__main__":
    main(sys.argv[1:])
