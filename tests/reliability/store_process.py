"""A real application process for the cutover fault tests.

python store_process.py writer ROOT KEY_INDEX NAME   save forever; print "<i> <phase> <json>"
python store_process.py mover ROOT                  move the phase up and down forever;
                                                    print the phase after each commit
python store_process.py backup-dies ROOT KEY_INDEX TEXT   save once with status message
                                                    TEXT and die (SIGKILL) the instant the
                                                    last JSON backup file is in place,
                                                    before SQLite commits
"""

from __future__ import annotations

import copy
import os
import signal
import sys
from pathlib import Path

from shadow_audit.cutover import advance, cutover_status, rollback
from shadow_audit.store import open_store
from shadow_audit.synth import make_projects

PROJECTS = make_projects(3, seed=11, sessions=3, concepts=3, concerns=2)


def writer(root: Path, index: int, name: str) -> None:
    store = open_store(root / "ws", root / "s.db", busy_timeout=30.0)
    i = 0
    while True:
        manifest, memory = copy.deepcopy(PROJECTS[index])
        manifest["status"]["message"] = f"{name} {i}"
        saved = store.save({"manifest": manifest, "memory": memory})
        sys.stdout.write(f"{i} {saved.phase} {int(saved.json_written)}\n")
        sys.stdout.flush()
        i += 1


def mover(root: Path) -> None:
    up = True
    while True:
        phase = cutover_status(root / "s.db").phase
        if phase == "json-retired":
            up = False
        elif phase == "shadow":
            up = True
        if up:
            outcome = advance(root / "ws", root / "s.db", force=True, reason="fault test")
        else:
            outcome = rollback(root / "ws", root / "s.db", reason="fault test")
        sys.stdout.write(f"{outcome.to_phase}\n")
        sys.stdout.flush()


def backup_dies(root: Path, index: int, text: str) -> None:
    real_replace = os.replace
    last = "project_memory.json"

    def replace_then_die(src: str | Path, dst: str | Path) -> None:
        real_replace(src, dst)
        if Path(dst).name == last:  # the backup is whole on disk; the commit comes next
            os.kill(os.getpid(), signal.SIGKILL)

    store = open_store(root / "ws", root / "s.db", busy_timeout=30.0)
    manifest, memory = copy.deepcopy(PROJECTS[index])
    manifest["status"]["message"] = text
    os.replace = replace_then_die  # type: ignore[assignment]
    store.save({"manifest": manifest, "memory": memory})
    sys.exit("the process was to die before the commit")


if __name__ == "__main__":
    if sys.argv[1] == "backup-dies":
        backup_dies(Path(sys.argv[2]), int(sys.argv[3]), sys.argv[4])
    elif sys.argv[1] == "writer":
        writer(Path(sys.argv[2]), int(sys.argv[3]), sys.argv[4])
    else:
        mover(Path(sys.argv[2]))
