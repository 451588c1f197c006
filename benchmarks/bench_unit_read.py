"""Benchmark the CPU a backfill worker spends per unit, stage by stage, in one process.

    python benchmarks/bench_unit_read.py                   # N=10,000
    python benchmarks/bench_unit_read.py --projects 2000 --repeat 3

Uses the store ``bench_backfill.py`` builds (N generated projects grown like the
reference's, cached under --dir and reused), and the tables as a new shadow holds them
(``table_layouts``). Per chunk of units it times, with ``time.process_time`` and the
collector off (as the backfill's workers run):

  read       ``SafeReader.read`` of the manifest and the memory (bytes only)
  floor      ``orjson.loads`` of both documents (the least any reader must do)
  manifest   ``validation.is_valid(doc, "manifest")``
  memory     ``validation.is_valid(doc, "memory")``
  project    every table's ``compile_projector`` rows passed through ``stored``
  stored     every table's ``compile_stored_projector`` (when the package has it)

Each figure is CPU microseconds per unit, the median of --repeat passes over the store,
and its ratio to the floor. The machine may be shared: CPU time holds still better than
wall time, but compare figures measured side by side.
"""

from __future__ import annotations

import argparse
import gc
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import orjson

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_backfill import build_source

from shadow_audit import validation
from shadow_audit.mapping import projection
from shadow_audit.profiles import REFERENCE
from shadow_audit.stores.bulk import table_layouts
from shadow_audit.stores.files import SafeReader
from shadow_audit.stores.json_store import JsonStore
from shadow_audit.stores.sqlite_shadow import SqliteShadow

CHUNK = 500
Table = tuple[str, Any, Any]  # (document name, entity, fields)


def layouts() -> list[Table]:
    """(document name, projector) per table, as a new shadow holds the tables."""
    with tempfile.TemporaryDirectory() as tmp:
        shadow = SqliteShadow(Path(tmp) / "bench.db", REFERENCE)
        with shadow.connection() as conn:
            tables = table_layouts(shadow, conn)
    return [(t.entity.document, t.entity, t.fields) for t in tables]


def one_pass(units: list[tuple[str, str]], tables: list[Table]) -> dict[str, float]:
    """CPU seconds per stage over every unit."""
    reader = SafeReader(units[0][0].rsplit("/", 2)[0])
    plain = [(doc, projection.compile_projector(e, f)) for doc, e, f in tables]
    fast = getattr(projection, "compile_stored_projector", None)
    direct = [(doc, fast(e, f)) for doc, e, f in tables] if fast else None
    stored = projection.stored
    is_valid = validation.is_valid
    clock = time.process_time
    spent = dict.fromkeys(("read", "floor", "manifest", "memory", "project", "stored"), 0.0)
    for start in range(0, len(units), CHUNK):
        chunk = units[start : start + CHUNK]
        t = clock()
        raw = [(reader.read(m), reader.read(y)) for m, y in chunk]
        t1 = clock()
        docs = [{"manifest": orjson.loads(m), "memory": orjson.loads(y)} for m, y in raw]
        t2 = clock()
        for d in docs:
            if not is_valid(d["manifest"], "manifest"):
                raise SystemExit("an invalid manifest in the benchmark's store")
        t3 = clock()
        for d in docs:
            if not is_valid(d["memory"], "memory"):
                raise SystemExit("an invalid memory in the benchmark's store")
        t4 = clock()
        for d in docs:
            for name, project in plain:
                [(k, stored(v)) for k, v in project(d[name])]
        t5 = clock()
        if direct is not None:
            for d in docs:
                for name, project in direct:
                    project(d[name])
        t6 = clock()
        for stage, seconds in zip(
            spent, (t1 - t, t2 - t1, t3 - t2, t4 - t3, t5 - t4, t6 - t5), strict=True
        ):
            spent[stage] += seconds
    return spent


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--projects", type=int, default=10_000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--repeat", type=int, default=5)
    shm = Path("/dev/shm")
    parser.add_argument(
        "--dir",
        type=Path,
        default=(shm if shm.is_dir() else Path("/tmp")) / "shadow_audit_bench_backfill",
    )
    args = parser.parse_args(argv)
    n = args.projects
    source = build_source(args.dir / str(n), n, args.seed)
    units = [
        (str(u.primary), str(u.folder / ".vibe" / "project_memory.json"))
        for u in JsonStore(source, REFERENCE).units()
    ]
    tables = layouts()
    passes: list[dict[str, float]] = []
    gc.disable()
    try:
        for _ in range(args.repeat):
            passes.append(one_pass(units, tables))
    finally:
        gc.enable()
    medians = {k: statistics.median(p[k] for p in passes) / len(units) * 1e6 for k in passes[0]}
    floor = medians["floor"]
    print(f"N={len(units)} units, median of {args.repeat} passes, CPU us per unit")
    print(f"{'stage':<44}{'us/unit':>9}{'x floor':>9}")
    names = {
        "read": "read bytes (SafeReader.read, both docs)",
        "floor": "floor: orjson.loads of both docs",
        "manifest": 'is_valid(manifest, "manifest")',
        "memory": 'is_valid(memory, "memory")',
        "project": "compile_projector + stored, all tables",
        "stored": "compile_stored_projector, all tables",
    }
    for stage, label in names.items():
        if stage == "stored" and not hasattr(projection, "compile_stored_projector"):
            continue
        print(f"{label:<44}{medians[stage]:>9.1f}{medians[stage] / floor:>9.2f}")
    checks = medians["manifest"] + medians["memory"]
    totals = [("validate + compile_projector + stored", checks + medians["project"])]
    if hasattr(projection, "compile_stored_projector"):
        totals.append(("validate + compile_stored_projector", checks + medians["stored"]))
    for label, work in totals:
        print(f"{label:<44}{work:>9.1f}{work / floor:>9.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
