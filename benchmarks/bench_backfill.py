"""Benchmark the backfill (units/s) beside the floor, reading every document, in one process.

    python benchmarks/bench_backfill.py                    # N=10,000
    python benchmarks/bench_backfill.py --projects 100000

Generates N projects (a ~1 KB manifest and a ~6 KB memory each: about 20 narrative
entries, 10 concepts, 5 concerns), written as plain JSON files (cached under --dir and
reused when N and the seed match), then times in this one process:

  floor      read the bytes of every document and parse them (orjson, gc paused), one core
  backfill   ``shadow_audit.backfill`` into a new database (parse, validate, project on
             every core; one transaction per batch)
  again      the same backfill a second time (everything unchanged: nothing is written)

floor and backfill run --repeat times, interleaved; medians count. Prints units/s, the
ratio to the floor, the CPU time per unit of this process (it writes SQLite) and of its
worker processes (they read, validate, project), and the load average (the machine may be
shared: CPU time per unit holds still when wall time does not). The store and the database
live under --dir, on /dev/shm by default (memory: the disk is not what is measured).
"""

from __future__ import annotations

import argparse
import gc
import os
import random
import resource
import statistics
import sys
import time
from pathlib import Path

import orjson

from shadow_audit.backfill import BATCH, backfill
from shadow_audit.profiles import REFERENCE
from shadow_audit.stores.json_store import JsonStore
from shadow_audit.synth import make_project


def build_source(root: Path, n: int, seed: int) -> Path:
    """N projects as JSON files only (no shadow yet), the memory where the reference writes it."""
    source = root / "workspaces"
    stamp = root / f".built-{n}-{seed}"
    if stamp.exists():
        return source
    if root.exists():
        import shutil

        shutil.rmtree(root)
    rng = random.Random(seed)
    t = time.perf_counter()
    for i in range(n):
        manifest, memory = make_project(i, rng)
        folder = source / manifest["metadata"]["projectId"]
        (folder / ".vibe").mkdir(parents=True)
        (folder / "project_manifest.json").write_bytes(
            orjson.dumps(manifest, option=orjson.OPT_INDENT_2)
        )
        (folder / ".vibe" / "project_memory.json").write_bytes(
            orjson.dumps(memory, option=orjson.OPT_INDENT_2)
        )
    stamp.touch()
    print(f"built N={n} in {time.perf_counter() - t:.1f}s", file=sys.stderr)
    return source


def floor(source: Path) -> float:
    """Seconds to read and parse every document (the least any backfill must do)."""
    t = time.perf_counter()
    gc.disable()
    try:
        for unit in JsonStore(source, REFERENCE).units():
            orjson.loads(unit.primary.read_bytes())
            memory = unit.folder / ".vibe" / "project_memory.json"
            orjson.loads(memory.read_bytes())
    finally:
        gc.enable()
    return time.perf_counter() - t


def _cpu() -> tuple[float, float]:
    """CPU seconds of this process and of its finished children (the backfill's workers)."""
    me = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    return me.ru_utime + me.ru_stime, kids.ru_utime + kids.ru_stime


def run_backfill(
    source: Path, db: Path, *, fresh: bool, workers: int | None, batch: int
) -> tuple[float, str, tuple[float, float]]:
    """Seconds, the counts, and (main, workers) CPU seconds of one backfill."""
    if fresh:
        for suffix in ("", "-wal", "-shm"):
            Path(f"{db}{suffix}").unlink(missing_ok=True)
    cpu = _cpu()
    t = time.perf_counter()
    result = backfill(source, db, workers=workers, batch=batch)
    seconds = time.perf_counter() - t
    after = _cpu()
    counts = (
        f"{result.imported} imported, {result.unchanged} unchanged, {len(result.skipped)} skipped"
    )
    return seconds, counts, (after[0] - cpu[0], after[1] - cpu[1])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--projects", type=int, default=10_000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--repeat", type=int, default=3)
    shm = Path("/dev/shm")
    parser.add_argument(
        "--dir",
        type=Path,
        default=(shm if shm.is_dir() else Path("/tmp")) / "shadow_audit_bench_backfill",
    )
    parser.add_argument("--workers", type=int, help="backfill workers (default: its own)")
    parser.add_argument("--batch", type=int, default=BATCH, help="units per transaction")
    args = parser.parse_args(argv)
    n = args.projects
    source = build_source(args.dir / str(n), n, args.seed)
    db = args.dir / f"{n}.db"
    floors, fills, agains = [], [], []
    counts = ""
    cpus: list[tuple[float, float]] = []
    for _ in range(args.repeat):
        floors.append(floor(source))
        seconds, counts, cpu = run_backfill(
            source, db, fresh=True, workers=args.workers, batch=args.batch
        )
        fills.append(seconds)
        cpus.append(cpu)
        again = run_backfill(source, db, fresh=False, workers=args.workers, batch=args.batch)
        agains.append(again[0])
    f, b, a = (statistics.median(x) for x in (floors, fills, agains))
    main_cpu = statistics.median(c[0] for c in cpus) / n * 1e6
    workers_cpu = statistics.median(c[1] for c in cpus) / n * 1e6
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    print(f"N={n} projects, {os.cpu_count()} cores, load average {load}; last run: {counts}")
    print(f"{'step':<34}{'seconds':>9}{'units/s':>10}{'x floor':>9}")
    for name, s in [
        ("floor (read + parse every doc)", f),
        ("backfill into a new database", b),
        ("backfill again (all unchanged)", a),
    ]:
        print(f"{name:<34}{s:>9.2f}{n / s:>10,.0f}{s / f:>9.2f}")
    print(
        f"backfill CPU per unit: {main_cpu:.0f} us in this process (SQLite), "
        f"{workers_cpu:.0f} us in the workers (read, validate, project)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
