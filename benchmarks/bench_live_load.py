"""Audits while the application writes (issue 13): false findings before/after the
re-check, and what the re-check costs.

    python benchmarks/bench_live_load.py table            # 2,000 projects, ~78 saves/s, 6 audits
    python benchmarks/bench_live_load.py table --writer foreign --projects 200  # no lock
    python benchmarks/bench_live_load.py cost             # 10,000 projects: time with/without load
    python benchmarks/bench_live_load.py cost --projects 100000

``table`` reruns the issue's experiment: one process saves through DualWriter at about
--rate saves a second while audits run; each run audits twice, side by side, without the
re-check (``recheck=False``, the behaviour before) and with it (``settle`` as the CLI's
default, 5 s), and prints the finding counts of both.

``cost`` times, medians of --repeat runs in this one process: the audit of a quiet store
with and without the re-check; the same under load; and the re-check alone on a quiet
store with k drifted units (k = 0, 10, 100, 1000, settle 0), at N and at N/5, to show it
costs in proportion to the units with findings, not to the store.

The stores live in /dev/shm when it exists (--dir to choose): the writer's rate then
does not hang on the fsyncs of a disk other jobs share.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sqlite3
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "reliability"))

from writer_process import versioned  # noqa: E402

from shadow_audit.engine.findings import AuditResult  # noqa: E402
from shadow_audit.engine.recheck import DEFAULT_SETTLE  # noqa: E402
from shadow_audit.engine.run import audit  # noqa: E402
from shadow_audit.stores.json_store import JsonStore, dump_document  # noqa: E402
from shadow_audit.stores.sqlite_shadow import SqliteShadow  # noqa: E402

WRITER = ROOT / "tests" / "reliability" / "load_writer.py"
KINDS = ("missing_in_shadow", "extra_in_shadow", "value_mismatch", "unstable")


def build(root: Path, n: int) -> tuple[Path, Path]:
    """N projects in both stores, as a backfill leaves them (cached by N)."""
    source, db = root / "workspaces", root / "shadow.db"
    stamp = root / f".built-{n}-v2"  # v2: memories in <unit>/.vibe/
    if stamp.exists():
        return source, db
    shutil.rmtree(root, ignore_errors=True)
    source.mkdir(parents=True)
    shadow = SqliteShadow(db)
    store = JsonStore(source)
    t = time.perf_counter()
    with shadow.connection() as conn, shadow.transaction(conn):
        for i in range(n):
            manifest, memory = versioned(i, 1)
            pid = manifest["metadata"]["projectId"]
            for name, doc in (("manifest", manifest), ("memory", memory)):
                path = store.path_for(pid, name)
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_bytes(dump_document(doc))
            shadow.write(conn, pid, {"manifest": manifest, "memory": memory})
    stamp.touch()
    print(f"built N={n:,} in {time.perf_counter() - t:.1f}s under {root}", file=sys.stderr)
    return source, db


class Writer:
    """A writer process (tests/reliability/load_writer.py) and a thread counting saves."""

    def __init__(
        self, root: Path, mode: str, units: range, rate: float, gap_ms: float = 30
    ) -> None:
        self.stop = root / f"stop-{mode}"
        self.stop.unlink(missing_ok=True)
        args = [str(root), mode, str(units.start), str(len(units)), str(rate), str(self.stop)]
        args.append(str(gap_ms))
        self.proc = subprocess.Popen(
            [sys.executable, str(WRITER), *args], stdout=subprocess.PIPE, text=True
        )
        self.saves = 0
        threading.Thread(target=self._count, daemon=True).start()
        self.started = time.monotonic()
        deadline = time.monotonic() + 60
        while self.saves < 5 and time.monotonic() < deadline:
            time.sleep(0.01)
        self.started, self.first = time.monotonic(), self.saves

    def _count(self) -> None:
        assert self.proc.stdout is not None
        for _ in self.proc.stdout:
            self.saves += 1

    def rate(self) -> float:
        return (self.saves - self.first) / (time.monotonic() - self.started)

    def finish(self) -> None:
        self.stop.touch()
        self.proc.wait(timeout=60)


def counts(result: AuditResult) -> dict[str, int]:
    return {k: result.counts().get(k, 0) for k in KINDS}


def timed(**kwargs: Any) -> tuple[float, AuditResult]:
    t = time.perf_counter()
    result = audit(**kwargs)
    return time.perf_counter() - t, result


def table(
    root: Path, n: int, rate: float, runs: int, settle: float, mode: str, gap_ms: float
) -> None:
    source, db = build(root, n)
    writer = Writer(root, mode, range(n), rate, gap_ms)
    rows = []
    try:
        for run in range(1, runs + 1):
            before_s, before = timed(source=source, shadow=db, recheck=False)
            after_s, after = timed(source=source, shadow=db, settle=settle)
            rows.append((run, before, before_s, after, after_s))
        achieved = writer.rate()
    finally:
        writer.finish()
    quiet = audit(source, db, recheck=False)
    who = (
        "DualWriter" if mode == "dual" else f"lock-free (JSON, then SQLite <= {gap_ms:g} ms later)"
    )
    print(f"\nN = {n:,} projects, one {who} process at {achieved:.0f} saves/s, settle {settle:g}s")
    print("| run | before: missing | extra | mismatch | status | after: missing | extra | mismatch "
          "| unstable | status | units re-checked | transient | re-check s | audit s before/after |")  # fmt: skip
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    for run, before, before_s, after, after_s in rows:
        b, a, checked = counts(before), counts(after), after.recheck
        assert checked is not None
        transient = sum(checked.transient.values())
        print(
            f"| {run} | {b['missing_in_shadow']} | {b['extra_in_shadow']} | {b['value_mismatch']} "
            f"| {before.status} | {a['missing_in_shadow']} | {a['extra_in_shadow']} "
            f"| {a['value_mismatch']} | {a['unstable']} | {after.status} | {checked.units} "
            f"| {transient} | {after.timings.get('recheck', 0):.3f} | {before_s:.2f} / {after_s:.2f} |"
        )
    print(f"after the writer stopped: {quiet.status}, {len(quiet.findings)} findings")


def drift(db: Path, k: int, on: bool) -> None:
    """k units get (or lose) a changed description in SQLite only."""
    conn = sqlite3.connect(db)
    sql = (
        "UPDATE missions SET description = description || ' (drift)' WHERE id <= ?"
        if on
        else "UPDATE missions SET description = replace(description, ' (drift)', '') WHERE id <= ?"
    )
    conn.execute(sql, (k,))
    conn.commit()
    conn.close()


def cost(root: Path, n: int, rate: float, repeat: int) -> None:
    source, db = build(root / f"n{n}", n)
    audit(source, db)  # warm the page cache
    med = statistics.median
    quiet_off = med(timed(source=source, shadow=db, recheck=False)[0] for _ in range(repeat))
    runs = [timed(source=source, shadow=db) for _ in range(repeat)]
    quiet_on = med(s for s, _ in runs)
    quiet_phase = med(r.timings.get("recheck", 0.0) for _, r in runs)
    print(f"\nN = {n:,} projects")
    print(f"quiet store: audit {quiet_off:.2f}s without the re-check, {quiet_on:.2f}s with it; "
          f"the re-check phase itself {quiet_phase * 1000:.1f} ms (no findings, nothing to "
          f"re-check; the rest is this machine's noise)")  # fmt: skip

    writer = Writer(root / f"n{n}", "dual", range(n), rate)
    try:
        off, on, rechecked, recheck_s = [], [], [], []
        for _ in range(repeat):
            s, _ = timed(source=source, shadow=db, recheck=False)
            off.append(s)
            s, r = timed(source=source, shadow=db, settle=DEFAULT_SETTLE)
            on.append(s)
            rechecked.append(r.recheck.units if r.recheck else 0)
            recheck_s.append(r.timings.get("recheck", 0.0))
        achieved = writer.rate()
    finally:
        writer.finish()
    print(f"under load ({achieved:.0f} saves/s, DualWriter): audit {med(off):.2f}s without the "
          f"re-check, {med(on):.2f}s with it (ratio {med(on) / med(off):.2f}); units re-checked "
          f"{rechecked}, re-check phase ms {[round(s * 1000) for s in recheck_s]}")  # fmt: skip

    small = max(1000, n // 5)
    small_source, small_db = build(root / f"n{small}", small)
    print("re-check alone, settle 0, k drifted units (one changed column each):")
    print(f"| k | re-check s at N={small:,} | ms a unit | re-check s at N={n:,} | ms a unit |")
    print("|---|---|---|---|---|")
    for k in (0, 10, 100, 1000):
        cells = []
        for s_source, s_db in ((small_source, small_db), (source, db)):
            drift(s_db, k, True)
            try:
                times = []
                for _ in range(repeat):
                    result = audit(s_source, s_db, settle=0)
                    assert result.recheck is not None and result.recheck.units == k
                    times.append(result.timings.get("recheck", 0.0))
            finally:
                drift(s_db, k, False)
            t = med(times)
            cells.append(f"{t:.3f} | {t / k * 1000:.2f}" if k else f"{t:.3f} | -")
        print(f"| {k} | {cells[0]} | {cells[1]} |")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("what", choices=["table", "cost"])
    parser.add_argument("--projects", type=int, help="default 2,000 (table), 10,000 (cost)")
    parser.add_argument("--rate", type=float, default=78.0, help="saves a second (default 78)")
    parser.add_argument("--runs", type=int, default=6, help="audits for the table (default 6)")
    parser.add_argument("--settle", type=float, default=DEFAULT_SETTLE)
    parser.add_argument("--repeat", type=int, default=3, help="medians of (default 3)")
    parser.add_argument(
        "--writer", choices=["dual", "foreign"], default="dual", help="table: who saves"
    )
    parser.add_argument(
        "--gap-ms", type=float, default=30, help="foreign writer: JSON-to-SQLite gap, max ms"
    )
    parser.add_argument("--dir", help="where the stores go (default /dev/shm, else /tmp)")
    args = parser.parse_args()
    base = Path("/dev/shm") if os.access("/dev/shm", os.W_OK) else Path("/tmp")
    root = Path(args.dir) if args.dir else base / "shadow-audit-live-load"
    if args.what == "table":
        n = args.projects or 2000
        where = root / f"table-{args.writer}-{n}"
        table(where, n, args.rate, args.runs, args.settle, args.writer, args.gap_ms)
    else:
        cost(root / "cost", args.projects or 10_000, args.rate, args.repeat)


if __name__ == "__main__":
    main()
