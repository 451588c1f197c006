"""A real application process saving continuously, for the live-load tests and benchmark.

    python load_writer.py ROOT MODE FIRST COUNT RATE STOP [GAP_MS]

MODE ``dual`` saves through DualWriter (the per-unit lock around both writes); MODE
``foreign`` saves the way the reference system's own code does: the JSON first, with
``open(path, "w")`` and no lock, then SQLite 2 to GAP_MS (default 30) milliseconds later. Projects
FIRST .. FIRST+COUNT-1 are saved in random order (seeded), each save a new version of
its project, at about RATE saves a second, until the file STOP exists. Every completed save prints one line ("<n>\\n").
"""

from __future__ import annotations

import json
import random
import sys
import time
from pathlib import Path
from typing import Any

from shadow_audit.dualwrite import DualWriter
from shadow_audit.stores.json_store import JsonStore
from shadow_audit.stores.sqlite_shadow import SqliteShadow

sys.path.insert(0, str(Path(__file__).resolve().parent))
from writer_process import versioned


def foreign_save(
    store: JsonStore, shadow: SqliteShadow, docs: tuple[Any, Any], gap: float = 0.03
) -> None:
    """The reference's dual write: JSON truncated and rewritten in place, SQLite after."""
    manifest, memory = docs
    pid = manifest["metadata"]["projectId"]
    for name, doc in (("manifest", manifest), ("memory", memory)):
        with open(store.path_for(pid, name), "w") as fh:
            json.dump(doc, fh, indent=2)
    time.sleep(random.uniform(0.002, gap))  # its SQLite write, milliseconds later
    with shadow.transaction() as conn:
        shadow.write(conn, pid, {"manifest": manifest, "memory": memory})


def main(argv: list[str]) -> None:
    root, mode = Path(argv[0]), argv[1]
    first, count, rate, stop = int(argv[2]), int(argv[3]), float(argv[4]), Path(argv[5])
    gap = float(argv[6]) / 1000 if len(argv) > 6 else 0.03
    store = JsonStore(root / "workspaces")
    shadow = SqliteShadow(root / "shadow.db", create=False)
    writer = DualWriter(store, shadow)
    interval, due, n = 1.0 / rate, time.monotonic(), 0
    rng = random.Random(first)
    versions: dict[int, int] = {}
    while not stop.exists():
        project = first + rng.randrange(count)
        versions[project] = versions.get(project, 1) + 1
        docs = versioned(project, versions[project])
        if mode == "dual":
            writer.save_project(*docs)
        else:
            foreign_save(store, shadow, docs, gap)
        n += 1
        sys.stdout.write(f"{n}\n")
        sys.stdout.flush()
        due += interval  # a steady rate, like an application under constant use
        time.sleep(max(0.0, due - time.monotonic()))


if __name__ == "__main__":
    main(sys.argv[1:])
