"""Benchmark ``shadow-audit export``: the rebuild of every document from SQLite, side by side.

    python benchmarks/bench_export.py                    # N=10,000 projects
    python benchmarks/bench_export.py --projects 1000 --dir /dev/shm/bench-export

In one process, over the same database (the bench_load store, cached under --dir):

  reference   read_unit_rows + mapping.rebuild.build_documents per key (the export's old path)
  compiled    stores.rows.UnitReader + mapping.rebuild.compile_rebuilder (the read path's)
  export      shadow_audit.cutover.export_json into a fresh folder (rebuild + atomic writes)

Prints seconds and the ratio of each to the reference rebuild.
"""

from __future__ import annotations

import argparse
import shutil
import sqlite3
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from bench_load import build

from shadow_audit.config import Config
from shadow_audit.cutover import export_json
from shadow_audit.mapping import build_documents, compile_rebuilder
from shadow_audit.stores.rows import UnitReader, read_unit_rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--projects", type=int, default=10_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--dir", default="/tmp/shadow-audit-bench-export")
    args = parser.parse_args()
    root = Path(args.dir) / f"n{args.projects}"
    _, db = build(root, args.projects, args.seed)
    mapping = Config().mapping
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    keys = [r[0] for r in conn.execute("SELECT mission_uuid FROM missions ORDER BY 1")]

    t = time.perf_counter()
    reference = [build_documents(mapping, k, read_unit_rows(conn, mapping, k)) for k in keys]
    t_ref = time.perf_counter() - t

    reader, rebuild = UnitReader(mapping), compile_rebuilder(mapping)
    t = time.perf_counter()
    compiled = [rebuild(k, reader.read(conn, k)) for k in keys]
    t_fast = time.perf_counter() - t
    assert compiled == reference, "the compiled rebuild must equal the reference"
    conn.close()

    out = root / "export"
    shutil.rmtree(out, ignore_errors=True)
    t = time.perf_counter()
    result = export_json(db, out)
    t_export = time.perf_counter() - t
    shutil.rmtree(out, ignore_errors=True)

    print(f"{len(keys)} documents' units, {result.written} files exported")
    print(f"  reference rebuild  {t_ref:7.2f} s  1.00x")
    print(f"  compiled rebuild   {t_fast:7.2f} s  {t_fast / t_ref:.2f}x")
    print(f"  export_json        {t_export:7.2f} s  {t_export / t_ref:.2f}x (with the writes)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
