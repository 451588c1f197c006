"""Benchmark ``Store.load`` per phase: p50 and p99 of one load, side by side in one process.

    python benchmarks/bench_load.py                  # N=10,000 projects, 2,000 loads a phase
    python benchmarks/bench_load.py --projects 100000
    python benchmarks/bench_load.py --dir /dev/shm/bench-load --runs 3   # medians of 3 runs

Builds N projects (the bench_audit shape: ~20 sessions, 10 concepts, 5 concerns) in both
stores, then loads random keys through ``open_store`` in each phase, interleaved in rounds:

  json          phase shadow: the JSON files are read and parsed
  sqlite        phase sqlite-primary: the key's rows are read and rebuilt into documents
  read-verify   phase read-verify at read_sample = 1.0: JSON served, SQLite rebuilt + compared

Each load is timed twice: wall clock (what the application waits, descheduling included) and
the thread's CPU time (``time.thread_time``: the load's own cost, which on a shared machine
is what stays comparable; a p99 of wall time there is mostly time spent waiting for a core).

Target (issue 10): SQLite p99 <= 2 ms and SQLite p50 <= 2x the JSON read. The store is cached
under --dir and reused when N and the seed match.
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import time
from pathlib import Path

from projects import write_projects  # benchmarks/ is on the path of a script run from it

from shadow_audit.config import Config
from shadow_audit.store import open_store
from shadow_audit.stores.phases import Phase, record_transition
from shadow_audit.stores.sqlite_shadow import SqliteShadow


def build(root: Path, n: int, seed: int) -> tuple[Path, Path]:
    source, db = root / "workspaces", root / "shadow.db"
    stamp = root / f".built-{n}-{seed}"
    if stamp.exists():
        return source, db
    t = time.perf_counter()
    write_projects(root, n, random.Random(seed))
    stamp.write_text("built\n")
    print(f"built N={n} in {time.perf_counter() - t:.1f}s", file=sys.stderr)
    return source, db


def set_phase(db: Path, phase: Phase) -> None:
    with SqliteShadow(db, create=False).transaction() as conn:
        record_transition(conn, to_phase=phase, at="2026-01-01T00:00:00Z", evidence={})


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


PHASES: dict[str, Phase] = {
    "json": "shadow",
    "sqlite": "sqlite-primary",
    "read-verify": "read-verify",
}
Stats = dict[str, tuple[float, float, float, float]]  # phase -> (p50, p99, cpu p50, cpu p99)


def measure(source: Path, db: Path, args: argparse.Namespace, rng: random.Random) -> Stats:
    """One run: ``args.loads`` random loads per phase, the phases interleaved in rounds."""
    times: dict[str, list[float]] = {label: [] for label in PHASES}
    cpu: dict[str, list[float]] = {label: [] for label in PHASES}
    config = Config(cutover={"read_sample": 1.0})
    per_round = args.loads // args.rounds
    for _ in range(args.rounds):
        for label, phase in PHASES.items():
            set_phase(db, phase)
            store = open_store(source, db, config=config, seed=args.seed)
            keys = [f"proj-{rng.randrange(args.projects):06d}" for _ in range(per_round)]
            store.load(keys[0])  # connection opened, caches warm
            for key in keys:
                c, t = time.thread_time(), time.perf_counter()
                store.load(key)
                times[label].append((time.perf_counter() - t) * 1000)
                cpu[label].append((time.thread_time() - c) * 1000)
            store.close()
    set_phase(db, "shadow")
    return {
        label: (
            statistics.median(times[label]),
            pct(times[label], 0.99),
            statistics.median(cpu[label]),
            pct(cpu[label], 0.99),
        )
        for label in PHASES
    }


def show(stats: Stats, title: str) -> None:
    json_p50, json_cpu = stats["json"][0], stats["json"][2]
    print(title)
    print(f"{'phase':<13}{'p50':>8}{'p99':>8}{'cpu p50':>9}{'cpu p99':>9}{'p50 / json':>12}")
    for label, (p50, p99, c50, c99) in stats.items():
        print(f"{label:<13}{p50:>8.3f}{p99:>8.3f}{c50:>9.3f}{c99:>9.3f}{p50 / json_p50:>11.2f}x")
    p50, p99, c50, c99 = stats["sqlite"]
    print(
        f"target: sqlite p99 <= 2 ms: wall {'met' if p99 <= 2 else 'NOT met'}, "
        f"cpu {'met' if c99 <= 2 else 'NOT met'}; "
        f"sqlite p50 <= 2x json: wall {'met' if p50 <= 2 * json_p50 else 'NOT met'}, "
        f"cpu {'met' if c50 <= 2 * json_cpu else 'NOT met'}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--projects", type=int, default=10_000)
    parser.add_argument("--loads", type=int, default=2_000, help="loads per phase")
    parser.add_argument("--rounds", type=int, default=4, help="interleaved rounds")
    parser.add_argument("--runs", type=int, default=1, help="runs; then the median of each")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--dir", default="/tmp/shadow-audit-bench-load")
    args = parser.parse_args()
    root = Path(args.dir) / f"n{args.projects}"
    source, db = build(root, args.projects, args.seed)
    rng = random.Random(args.seed)
    runs = []
    for run in range(args.runs):
        runs.append(measure(source, db, args, rng))
        title = f"N={args.projects}, {args.loads} loads per phase, times in ms"
        show(runs[-1], title + (f" (run {run + 1} of {args.runs})" if args.runs > 1 else ""))
    if args.runs > 1:
        medians = {
            label: tuple(statistics.median(r[label][i] for r in runs) for i in range(4))
            for label in PHASES
        }
        title = f"N={args.projects}: median of {args.runs} runs, times in ms"
        show(medians, title)  # type: ignore[arg-type]


if __name__ == "__main__":
    main()
