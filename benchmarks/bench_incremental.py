"""Benchmark ``audit --incremental`` against the full audit, side by side in one process.

    python benchmarks/bench_incremental.py                    # N=10,000 projects
    python benchmarks/bench_incremental.py --projects 100000  # the issue's target size

Builds N projects (about 20 narrative entries, 10 concepts, 5 concerns each) through the
mapping, under --dir (default /dev/shm: the stores live in memory, the page cache is warm),
then times in this one process, --repeat times each, medians:

  (a) full         the full audit (``audit``), as a scheduled run without --incremental
  (b) first        the first incremental run: a full audit that also writes the state
  (c) no change    an incremental run when nothing changed
  (d) 1 % change   an incremental run after 1 % of the projects changed: half by JSON edits
                   of the manifest (out of band), half by SQL UPDATEs (a plain sqlite3 client)

and the cost the change-record triggers add to a DualWriter save: the same saves against
the same database with and without the triggers, interleaved.

Prints wall times and the ratios to the full audit (targets at 100k: no change <= 5 %,
1 % change <= 10 %).
"""

from __future__ import annotations

import argparse
import random
import shutil
import sqlite3
import statistics
import sys
import time
from pathlib import Path

import orjson
from projects import write_projects  # benchmarks/ is on the path of a script run from it

from shadow_audit.dualwrite import DualWriter
from shadow_audit.engine.run import audit
from shadow_audit.stores.changes import TRIGGER_PREFIX
from shadow_audit.stores.json_store import JsonStore
from shadow_audit.stores.sqlite_shadow import SqliteShadow
from shadow_audit.synth import make_project


def build_store(root: Path, n: int, seed: int) -> tuple[Path, Path]:
    """N projects written through the mapping (both stores), cached under ``root``."""
    source, db = root / "workspaces", root / "shadow.db"
    stamp = root / f".built-{n}-{seed}"
    if stamp.exists():
        return source, db
    t = time.perf_counter()
    write_projects(root, n, random.Random(seed), memory=".vibe/project_memory.json")
    stamp.write_text("")
    print(f"built N={n} in {time.perf_counter() - t:.1f}s", file=sys.stderr)
    return source, db


def change(source: Path, db: Path, n: int, rng: random.Random, round_: int) -> int:
    """1 % of the projects: half get a JSON edit of the manifest, half a SQL UPDATE."""
    picks = rng.sample(range(n), max(2, n // 100))
    half = len(picks) // 2
    for i in picks[:half]:
        path = source / f"proj-{i:06d}" / "project_manifest.json"
        doc = orjson.loads(path.read_bytes())
        doc["status"]["message"] = f"edited out of band, round {round_}"
        path.write_bytes(orjson.dumps(doc, option=orjson.OPT_INDENT_2))
    conn = sqlite3.connect(db)
    conn.executemany(
        "UPDATE missions SET owner = ? WHERE mission_uuid = ?",
        [(f"someone-{round_}", f"proj-{i:06d}") for i in picks[half:]],
    )
    conn.commit()
    conn.close()
    return len(picks)


def timed(fn: object) -> tuple[float, object]:
    t = time.perf_counter()
    result = fn()  # type: ignore[operator]
    return time.perf_counter() - t, result


def trigger_cost(root: Path, saves: int, repeat: int) -> tuple[float, float]:
    """Median seconds per DualWriter save with the triggers and without them."""
    base = root / "saves"
    if base.exists():
        shutil.rmtree(base)
    projects = [make_project(i, random.Random(i), sessions=20) for i in range(saves)]
    with_t, without_t = [], []
    for r in range(repeat):
        for name, keep in (("with", True), ("without", False)):
            folder = base / f"{name}-{r}"
            writer = DualWriter(JsonStore(folder / "src"), SqliteShadow(folder / "s.db"))
            if not keep:
                conn = sqlite3.connect(folder / "s.db")
                names = conn.execute(
                    "SELECT name FROM sqlite_master WHERE type = 'trigger' AND name LIKE ?",
                    (TRIGGER_PREFIX + "%",),
                ).fetchall()
                for (trigger,) in names:
                    conn.execute(f'DROP TRIGGER "{trigger}"')
                conn.commit()
                conn.close()
            t = time.perf_counter()
            for manifest, memory in projects:  # a new unit, then a changed one
                writer.save_project(manifest, memory)
                memory["narrative"][-1]["summary"] += " (again)"
                writer.save_project(manifest, memory)
            (with_t if keep else without_t).append((time.perf_counter() - t) / (2 * saves))
    shutil.rmtree(base)
    return statistics.median(with_t), statistics.median(without_t)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--projects", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--dir", type=Path, default=Path("/dev/shm/shadow-audit-bench-incremental"))
    parser.add_argument("--saves", type=int, default=300, help="saves for the trigger cost")
    parser.add_argument(
        "--saves-dir", type=Path, help="where the saves are timed (default: --dir; a disk "
        "folder such as /tmp includes the fsyncs a real save pays)",
    )  # fmt: skip
    args = parser.parse_args(argv)
    n = args.projects
    root = args.dir / f"n{n}"
    source, db = build_store(root, n, args.seed)
    state = root / "out" / "state.db"
    state.unlink(missing_ok=True)
    rng = random.Random(args.seed + 1)
    full, first, quiet, changed = [], [], [], []
    changed_units, reread = [], []
    for r in range(args.repeat):
        full.append(timed(lambda: audit(source, db))[0])
        state.unlink(missing_ok=True)
        seconds, result = timed(lambda: audit(source, db, incremental=True, state=state))
        assert result.mode == "full"  # type: ignore[attr-defined]
        first.append(seconds)
        audit(source, db, incremental=True, state=state)  # files too new to trust, once
        seconds, result = timed(lambda: audit(source, db, incremental=True, state=state))
        assert result.mode == "incremental", result.incremental  # type: ignore[attr-defined]
        quiet.append(seconds)
        edits = change(source, db, n, rng, r)
        seconds, result = timed(lambda: audit(source, db, incremental=True, state=state))
        assert result.mode == "incremental"  # type: ignore[attr-defined]
        changed.append(seconds)
        how = result.incremental  # type: ignore[attr-defined]
        changed_units.append(how.units_audited)
        reread.append(how.documents_reread)
        print(
            f"round {r + 1}: full {full[-1]:.2f}s, first {first[-1]:.2f}s, no change "
            f"{quiet[-1]:.3f}s, 1% ({edits} projects) {changed[-1]:.3f}s",
            file=sys.stderr,
        )
    with_t, without_t = trigger_cost(args.saves_dir or args.dir, args.saves, args.repeat)
    f = statistics.median(full)
    rows = [
        ("full audit", f),
        ("first --incremental run (full + state)", statistics.median(first)),
        ("incremental, no change", statistics.median(quiet)),
        (f"incremental, 1 % changed ({max(changed_units)} units)", statistics.median(changed)),
    ]
    print(f"\nN = {n:,} projects, medians of {args.repeat}")
    print(f"{'run':<44} {'seconds':>8} {'vs full':>8}")
    for name, seconds in rows:
        print(f"{name:<44} {seconds:>8.3f} {seconds / f:>8.1%}")
    print(f"documents re-read at 1 %: {statistics.median(reread):.0f}")
    print(
        f"DualWriter save: {with_t * 1000:.3f} ms with the change-record triggers, "
        f"{without_t * 1000:.3f} ms without ({with_t / without_t - 1:+.1%})"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
