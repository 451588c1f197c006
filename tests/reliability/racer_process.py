"""One of several racing application processes: read-modify-write increments of a counter
in both documents of overlapping projects, through DualWriter.update (under the lock).

    python racer_process.py ROOT PROJECTS SAVES SEED
"""

from __future__ import annotations

import random
import sys
from pathlib import Path
from typing import Any

from shadow_audit.dualwrite import DualWriter
from shadow_audit.stores.json_store import JsonStore
from shadow_audit.stores.sqlite_shadow import SqliteShadow


def bump(docs: dict[str, Any]) -> dict[str, Any]:
    manifest, memory = docs["manifest"], docs["memory"]
    count = manifest["spec"]["vibe"].get("counter", 0) + 1
    manifest["spec"]["vibe"]["counter"] = count
    manifest["status"]["message"] = f"count {count}"
    memory["trajectory"]["current_focus"] = f"count {count}"
    memory["narrative"][0]["summary"] = f"count {count}"
    return {"manifest": manifest, "memory": memory}


def main(argv: list[str]) -> None:
    root, projects, saves, seed = Path(argv[0]), int(argv[1]), int(argv[2]), int(argv[3])
    writer = DualWriter(
        JsonStore(root / "workspaces"), SqliteShadow(root / "shadow.db", create=False)
    )
    rng = random.Random(seed)
    done: dict[int, int] = {}
    for _ in range(saves):
        p = rng.randrange(projects)
        result = writer.update(f"proj-{p:06d}", bump)
        assert result.shadow_ok, result.failure
        done[p] = done.get(p, 0) + 1
    print(" ".join(f"{p}:{n}" for p, n in sorted(done.items())))


if __name__ == "__main__":
    main(sys.argv[1:])
