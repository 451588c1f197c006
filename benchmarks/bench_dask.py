"""Benchmark the Dask engine against the local engine and the floor, side by side.

    python benchmarks/bench_dask.py                  # N=10,000
    python benchmarks/bench_dask.py --projects 100000

Builds (or reuses, under --dir, on /dev/shm by default) the same store as
bench_audit.py: N projects with about 1 % drift. Then, in this one process:

  floor        read and parse both stores (orjson, gc paused; cursor fetchall)
  local        sa.audit, the default engine (the schema checks on a second core)
  local 1 core sa.audit(workers=1): validation inline, as each Dask task runs it
  dask 1w      sa.audit on a LocalCluster of 1 worker process (1 thread)
  dask 2w      sa.audit on a LocalCluster of 2 worker processes (1 thread each)

Each cluster is started once, outside the timings (its start-up is printed apart, and
one run with engine="dask", which starts its own cluster, is timed as the CLI runs it).
floor, local and the dask runs are interleaved --repeat times; medians count. Every
dask run's findings are checked equal to the local run's.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

from distributed import LocalCluster

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_audit import build_store, floor

import shadow_audit as sa
from shadow_audit.engine.distributed import DaskEngine


def timed_audit(source: Path, db: Path, engine: object) -> tuple[float, object]:
    t = time.perf_counter()
    result = sa.audit(source, db, engine=engine)  # type: ignore[arg-type]
    return time.perf_counter() - t, result


def same(a: object, b: object) -> bool:
    return [f.to_dict() for f in a.findings] == [f.to_dict() for f in b.findings] and (  # type: ignore[attr-defined]
        a.summary == b.summary  # type: ignore[attr-defined]
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--projects", type=int, default=10_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument(
        "--dir", type=Path, default=None, help="store cache (default /dev/shm/...-N)"
    )
    parser.add_argument("--repeat", type=int, default=3, help="interleaved runs (medians)")
    parser.add_argument("--partitions", type=int, default=None, help="default: the engine's")
    args = parser.parse_args()
    root = args.dir or Path(f"/dev/shm/shadow-audit-bench-dask-{args.projects}")
    source, db = build_store(root, args.projects, args.seed)

    clusters = {}
    for workers in (1, 2):
        t = time.perf_counter()
        cluster = LocalCluster(
            n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=":0"
        )
        clusters[workers] = (cluster, time.perf_counter() - t)

    names = ["floor", "local", "local 1 core", "dask 1w", "dask 2w"]
    times: dict[str, list[float]] = {name: [] for name in names}
    try:
        for _ in range(args.repeat):
            times["floor"].append(floor(source, db))
            seconds, local = timed_audit(source, db, "local")
            times["local"].append(seconds)
            t = time.perf_counter()
            sa.audit(source, db, workers=1)
            times["local 1 core"].append(time.perf_counter() - t)
            for workers, (cluster, _) in clusters.items():
                engine = DaskEngine(cluster.scheduler_address, args.partitions)
                seconds, merged = timed_audit(source, db, engine)
                assert same(merged, local), f"dask {workers}w differs from the local engine"
                times[f"dask {workers}w"].append(seconds)
        seconds, own = timed_audit(source, db, DaskEngine(partitions=args.partitions))
        assert same(own, local)
    finally:
        for cluster, _ in clusters.values():
            cluster.close()

    med = {k: statistics.median(v) for k, v in times.items()}
    n = args.projects
    print(f"N={n:,} projects, {len(local.findings)} findings, repeat={args.repeat} (medians)")  # type: ignore[attr-defined]
    print(f"{'run':<34}{'seconds':>9}{'x floor':>9}{'x local':>9}")
    for name, seconds in med.items():
        print(f"{name:<34}{seconds:9.2f}{seconds / med['floor']:9.2f}{seconds / med['local']:9.2f}")
    print(
        f"{'dask, own 2-worker cluster (CLI)':<34}{seconds_own(own):9.2f}"
        f"{seconds_own(own) / med['floor']:9.2f}{seconds_own(own) / med['local']:9.2f}"
    )
    for workers, (_, start) in clusters.items():
        print(f"cluster start-up, {workers} worker(s): {start:.2f}s (not in the times above)")
    print(f"dask 2w vs dask 1w: {med['dask 2w'] / med['dask 1w']:.2f}x the time")


def seconds_own(result: object) -> float:
    return float(result.timings["total"])  # type: ignore[attr-defined]


if __name__ == "__main__":
    main()
