"""The benchmarks' store: N generated projects written to both stores in one transaction."""

from __future__ import annotations

import random
import shutil
from pathlib import Path

import orjson

from shadow_audit.stores.sqlite_shadow import SqliteShadow
from shadow_audit.synth import make_project


def write_projects(
    root: Path, n: int, rng: random.Random, *, memory: str = "project_memory.json"
) -> tuple[Path, Path]:
    """A fresh ``root/workspaces`` and ``root/shadow.db`` holding N projects.

    Args:
        root: the folder (emptied first).
        n: how many projects.
        rng: the generator (the caller may draw more from it, e.g. drift).
        memory: where a memory goes in its workspace (``.vibe/project_memory.json`` is
            where the reference writes it; ``project_memory.json`` the other place it reads).

    Returns:
        ``(source, db)``.
    """
    source, db = root / "workspaces", root / "shadow.db"
    if root.exists():
        shutil.rmtree(root)
    source.mkdir(parents=True)
    shadow = SqliteShadow(db)
    with shadow.connection() as conn:
        conn.execute("PRAGMA synchronous = OFF")
        conn.execute("BEGIN")
        for i in range(n):
            manifest, mem = make_project(i, rng)
            key = manifest["metadata"]["projectId"]
            folder = source / key
            (folder / memory).parent.mkdir(parents=True, exist_ok=True)
            (folder / "project_manifest.json").write_bytes(
                orjson.dumps(manifest, option=orjson.OPT_INDENT_2)
            )
            (folder / memory).write_bytes(orjson.dumps(mem, option=orjson.OPT_INDENT_2))
            shadow.write(conn, key, {"manifest": manifest, "memory": mem})
        conn.execute("COMMIT")
    return source, db
