"""Benchmark the audit against the floor, the naive approach and datacompy, side by side.

    python benchmarks/bench_audit.py                 # N=10,000
    python benchmarks/bench_audit.py --projects 100000

Generates N projects (about 20 narrative entries, 10 concepts, 5 concerns and a
trajectory each), writes both stores through the mapping, injects about 1 %
drift, then times in this one process:

  (a) floor      read and parse both stores (orjson, gc paused; cursor fetchall)
  (b) naive      per project: load its documents, query its rows, DeepDiff (sampled, scaled)
  (c) datacompy  datacompy's compare of the missions frames, against the audit's own
                 compare of the same rows (the streaming compare, fed one document at a
                 time, then the findings), as the audit runs it
  (d) audit      the full shadow_audit audit of all five tables
  (e) frames     sa.frames (both stores as DataFrames) and its match rates

floor and audit run --repeat times, interleaved, and their medians count; prints wall times, peak RSS (the audit alone, in a fresh child process) and ratios.
The store is cached under --dir and reused when N and the seed match.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import random
import sqlite3
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import orjson
from projects import write_projects  # benchmarks/ is on the path of a script run from it

import shadow_audit as sa
from shadow_audit.engine.compare import StreamCompare, findings_for
from shadow_audit.engine.load import Rows, load_shadow
from shadow_audit.mapping import iter_rows
from shadow_audit.profiles import REFERENCE

TABLES = [e.table for e in REFERENCE.entities]


def build_store(root: Path, n: int, seed: int) -> tuple[Path, Path]:
    source, db = root / "workspaces", root / "shadow.db"
    stamp = root / f".built-{n}-{seed}"
    if stamp.exists():
        return source, db
    rng = random.Random(seed)
    t = time.perf_counter()
    write_projects(root, n, rng)
    drift = inject_drift(source, db, n, rng)
    stamp.write_text(json.dumps(drift))
    print(
        f"built N={n} in {time.perf_counter() - t:.1f}s; drift injected: {drift}", file=sys.stderr
    )
    return source, db


def inject_drift(source: Path, db: Path, n: int, rng: random.Random) -> dict[str, int]:
    """About 1 % of projects drift, in the ways the reference system drifted."""
    picks = rng.sample(range(n), max(5, n // 100))
    conn = sqlite3.connect(db)
    counts = {"value_edit": 0, "deleted_rows": 0, "extra_rows": 0, "json_edit": 0}
    for j, i in enumerate(picks):
        pid = f"proj-{i:06d}"
        how = j % 4
        if how == 0:
            conn.execute(
                "UPDATE missions SET current_cost_usd = current_cost_usd + 1 WHERE mission_uuid = ?",
                (pid,),
            )
            counts["value_edit"] += 1
        elif how == 1:
            conn.execute(
                "DELETE FROM session_narrative WHERE session_num = 1 AND mission_id = "
                "(SELECT id FROM missions WHERE mission_uuid = ?)",
                (pid,),
            )
            counts["deleted_rows"] += 1
        elif how == 2:
            conn.execute(
                "INSERT INTO domain_concepts (mission_id, concept, timestamp) "
                "SELECT id, 'stale-concept', 'x' FROM missions WHERE mission_uuid = ?",
                (pid,),
            )
            counts["extra_rows"] += 1
        else:
            path = source / pid / "project_memory.json"
            memory = orjson.loads(path.read_bytes())
            memory["narrative"][-1]["summary"] += " (edited out of band)"
            path.write_bytes(orjson.dumps(memory))
            counts["json_edit"] += 1
    conn.commit()
    conn.close()
    return counts


def floor(source: Path, db: Path) -> float:
    t = time.perf_counter()
    gc.disable()
    try:
        docs = 0
        for folder in sorted(source.iterdir()):
            for name in ("project_manifest.json", "project_memory.json"):
                orjson.loads((folder / name).read_bytes())
                docs += 1
        conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
        rows = sum(len(conn.execute(f"SELECT * FROM {t}").fetchall()) for t in TABLES)
        conn.close()
    finally:
        gc.enable()
    assert docs and rows
    return time.perf_counter() - t


def naive(source: Path, db: Path, sample: int) -> tuple[float, int]:
    """Per document: query its rows, build both dicts, DeepDiff them; timed on a sample."""
    from deepdiff import DeepDiff

    folders = sorted(source.iterdir())
    chosen = folders[:: max(1, len(folders) // sample)][:sample]
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    t = time.perf_counter()
    for folder in chosen:
        manifest = json.loads((folder / "project_manifest.json").read_text())
        memory = json.loads((folder / "project_memory.json").read_text())
        pid = manifest["metadata"]["projectId"]
        expected: dict[str, Any] = {}
        actual: dict[str, Any] = {}
        for e in REFERENCE.entities:
            doc = manifest if e.document == "manifest" else memory
            cols = [f.column for f in e.compared_fields]
            expected[e.table] = {str(k): list(v) for k, v in iter_rows(e, doc, e.compared_fields)}
            key = e.key_column or "mission_id"
            where = (
                "mission_uuid = ?"
                if e.is_root
                else "mission_id = (SELECT id FROM missions WHERE mission_uuid = ?)"
            )
            got = conn.execute(
                f"SELECT {', '.join([key, *cols])} FROM {e.table} WHERE {where}", (pid,)
            ).fetchall()
            actual[e.table] = {
                str(r[0] if e.key_column and not e.is_root else None): list(r[1:]) for r in got
            }
        DeepDiff(expected, actual)
    conn.close()
    return time.perf_counter() - t, len(chosen)


def missions_rows(source: Path, db: Path) -> tuple[Rows, Rows, Any]:
    """The missions rows of both stores, as the audit holds them before comparing."""
    from shadow_audit.engine.source import load_source

    actual = load_shadow(db, REFERENCE)
    fields = {"missions": actual.fields["missions"]}
    expected = load_source(source, REFERENCE, fields, validate=False)
    return expected.rows["missions"], actual.rows["missions"], fields["missions"]


def missions_frames(expected: Rows, actual: Rows, fields: Any) -> tuple[Any, Any]:
    import pandas as pd

    cols = ["mission_uuid", *(f.column for f in fields)]
    exp_df = pd.DataFrame([(*k, *v) for k, v in expected.items()], columns=cols)
    act_df = pd.DataFrame([(*k, *v) for k, v in actual.items()], columns=cols)
    return exp_df, act_df


def compare_missions_ours(expected: Rows, actual: Rows, fields: Any) -> float:
    """The audit's path: the streaming compare fed one document at a time, then findings."""
    shadow = dict(actual)  # the stream consumes the shadow's rows; the copy is not timed
    documents = [{k: v} for k, v in expected.items()]  # missions: one row per document
    t = time.perf_counter()
    stream = StreamCompare(shadow)
    for rows in documents:
        stream.feed(rows)
    findings_for(REFERENCE.entity("missions"), fields, stream.finish())
    return time.perf_counter() - t


def frames_and_rates(source: Path, db: Path) -> float:
    t = time.perf_counter()
    sa.frames(source, db).match_rates()
    return time.perf_counter() - t


def compare_missions_datacompy(exp_df: Any, act_df: Any) -> float | None:
    try:
        import datacompy
    except ImportError:
        return None
    cls = getattr(datacompy, "PandasCompare", None) or datacompy.Compare
    t = time.perf_counter()
    cmp = cls(exp_df, act_df, join_columns="mission_uuid", abs_tol=1e-9, rel_tol=1e-9)
    cmp.matches()
    cmp.report()
    return time.perf_counter() - t


def audit_in_child(source: Path, db: Path) -> tuple[float, float, int]:
    code = (
        "import resource, sys, time; import shadow_audit as sa; "
        "t = time.perf_counter(); r = sa.audit(sys.argv[1], sys.argv[2]); "
        "print(time.perf_counter() - t, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, len(r.findings))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code, str(source), str(db)],
        capture_output=True,
        text=True,
        check=True,
    )
    seconds, rss_kb, findings = out.stdout.split()
    return float(seconds), int(rss_kb) / 1024 / 1024, int(findings)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--projects", type=int, default=10_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument(
        "--dir", default=None, help="where to build (default /tmp/shadow-audit-bench-N)"
    )
    parser.add_argument("--naive-sample", type=int, default=500)
    parser.add_argument("--repeat", type=int, default=3, help="runs of floor and audit (medians)")
    parser.add_argument("--skip-datacompy", action="store_true")
    args = parser.parse_args()
    n = args.projects
    root = Path(args.dir or f"/tmp/shadow-audit-bench-{n}")
    source, db = build_store(root, n, args.seed)
    floor(source, db)  # warm the page cache so every contender reads warm

    results: dict[str, float] = {}
    floors, audits = [], []
    for _ in range(args.repeat):  # side by side, interleaved; medians below
        floors.append(floor(source, db))
        t = time.perf_counter()
        result = sa.audit(source, db)
        audits.append(time.perf_counter() - t)
    results["floor"] = statistics.median(floors)
    results["audit"] = statistics.median(audits)
    naive_s, sampled = naive(source, db, min(args.naive_sample, n))
    results["naive (scaled)"] = naive_s / sampled * n
    exp_rows, act_rows, fields = missions_rows(source, db)
    exp_df, act_df = missions_frames(exp_rows, act_rows, fields)
    ours, theirs = [], []
    for _ in range(3):  # the first call of each pays one-time costs; medians of 3
        ours.append(compare_missions_ours(exp_rows, act_rows, fields))
        if not args.skip_datacompy:
            dc = compare_missions_datacompy(exp_df, act_df)
            if dc is not None:
                theirs.append(dc)
    results["missions compare: shadow_audit"] = statistics.median(ours)
    if theirs:
        results["missions compare: datacompy"] = statistics.median(theirs)
    results["frames + match_rates"] = frames_and_rates(source, db)
    child_s, peak_gb, findings = audit_in_child(source, db)

    print(
        f"\nN = {n:,} projects, {result.documents:,} documents, {len(result.findings)} findings "
        f"({', '.join(f'{v} {k}' for k, v in result.counts().items() if v)})"
    )
    print("audit phases: " + ", ".join(f"{k} {v:.2f}s" for k, v in result.timings.items()))
    print(f"\n{'contender':<34}{'seconds':>10}")
    for name, seconds in results.items():
        print(f"{name:<34}{seconds:>10.2f}")
    print(f"{'audit, fresh process':<34}{child_s:>10.2f}   peak RSS {peak_gb:.2f} GB")
    print("\nratios")
    print(
        f"  audit / floor                  {results['audit'] / results['floor']:.2f}x  (target <= 1.5)"
    )
    print(
        f"  naive / audit                  {results['naive (scaled)'] / results['audit']:.1f}x  (target >= 20)"
    )
    if "missions compare: datacompy" in results:
        ratio = results["missions compare: datacompy"] / results["missions compare: shadow_audit"]
        print(f"  datacompy / ours (missions)    {ratio:.1f}x  (target > 1)")
    print(f"  peak RSS                       {peak_gb:.2f} GB (target <= 2.5 at N=100,000)")
    print(f"  naive measured on {sampled} projects and scaled to {n:,}")
    print(f"  (findings in the child run: {findings})", file=sys.stderr)
    os.sync()


if __name__ == "__main__":
    main()
