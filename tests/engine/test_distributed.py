"""The Dask engine: key partitions audited on a cluster, merged, equal the single-process audit.

The law: on stores grown the reference way (folders named ``workspace_NNN`` holding
``ref-project-NNN``) and by the writer (folder = key), with drift of every kind injected
on both sides, the merged Dask result equals the local one finding by finding (kind,
entity, key, field, path, values, detail), in the summary, the coverage and the counts,
for 1 partition, a few, and more partitions than units.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
from distributed import LocalCluster
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from shadow_audit.backfill import backfill
from shadow_audit.dualwrite import DualWriter
from shadow_audit.engine.distributed import DaskEngine
from shadow_audit.engine.load import load_shadow
from shadow_audit.engine.partition import KeyPartition, PartitionTask, audit_partition
from shadow_audit.engine.run import audit
from shadow_audit.errors import UsageError
from shadow_audit.profiles import REFERENCE
from shadow_audit.stores.json_store import JsonStore
from shadow_audit.stores.sqlite_shadow import SqliteShadow
from shadow_audit.synth import make_projects
from tests.conftest import audit_cli, make_store, run_sql
from tests.reference_growth import write_reference_store

TABLES = ["missions", "session_narrative", "domain_concepts", "domain_concerns", "trajectory"]
CHILDREN = TABLES[1:]


@pytest.fixture(scope="module")
def scheduler():
    """A small cluster of two worker processes, started once for the module."""
    with LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, dashboard_address=":0"
    ) as cluster:
        yield cluster.scheduler_address


def outcome(result):
    """Everything the law compares: findings in order, summary, coverage, counts."""
    return (
        [f.to_dict() for f in result.findings],
        {t: s.to_dict() for t, s in result.summary.items()},
        result.coverage.to_dict(),
        result.documents,
        dict(result.normalizers),
        [f.to_dict() for f in result.ignored],
    )


# --- stores grown the reference way, and drift of every kind -------------------------


def grow_store(root: Path, *, reference: list[int], written: int, seed: int) -> tuple[Path, Path]:
    """Reference-layout units (folder name != key, memory grown session by session) plus
    units saved by the writer (folder = key), all imported into the shadow."""
    source, db = root / "workspaces", root / "shadow.db"
    source.mkdir(parents=True)
    write_reference_store(source, reference, seed=seed)
    writer = DualWriter(JsonStore(source), SqliteShadow(db))
    for manifest, memory in make_projects(written, seed=seed, sessions=3, concepts=3, concerns=2):
        writer.save_project(manifest, memory)
    backfill(source, db, workers=1)
    return source, db


def columns(db: Path, table: str) -> list[str]:
    return [r[1] for r in run_sql(db, f'PRAGMA table_info("{table}")')]


def copy_row(db: Path, table: str, row_id: int, **changes) -> None:
    """Insert a copy of one row with some columns changed (a new id; none if the copy
    would break a UNIQUE constraint)."""
    cols = [c for c in columns(db, table) if c != "id"]
    picked = ", ".join(f'"{c}"' if c not in changes else "?" for c in cols)
    names = ", ".join(f'"{c}"' for c in cols)
    params = [changes[c] for c in cols if c in changes]
    run_sql(db, f'INSERT OR IGNORE INTO "{table}" ({names}) SELECT {picked} FROM "{table}" WHERE id = ?',
        *params, row_id)  # fmt: skip


def rows_of(db: Path, table: str) -> list[int]:
    return [r[0] for r in run_sql(db, f'SELECT id FROM "{table}" ORDER BY id')]


def units(source: Path) -> list[Path]:
    """The unit folders, sorted."""
    return sorted(p.parent for p in source.glob("*/project_manifest.json"))


def inject(kind: str, pick: int, source: Path, db: Path) -> None:
    """One drift of ``kind`` on the ``pick``-th unit or row (modulo what exists)."""
    folders = units(source)
    folder = folders[pick % len(folders)] if folders else None
    manifest = folder / "project_manifest.json" if folder else None
    if kind.startswith("sql_"):
        table = TABLES[pick % len(TABLES)] if kind != "sql_delete_root" else "missions"
        ids = rows_of(db, table)
        if not ids:
            return
        row = ids[pick % len(ids)]
        if kind == "sql_update":
            column = {"missions": "owner", "session_narrative": "summary",
                      "domain_concepts": "concept", "domain_concerns": "concern",
                      "trajectory": "current_focus"}[table]  # fmt: skip
            run_sql(db, f'UPDATE "{table}" SET "{column}" = "{column}" || \'~\' WHERE id = ?', row)
        elif kind in ("sql_delete", "sql_delete_root"):  # a root's children become orphans
            run_sql(db, f'DELETE FROM "{table}" WHERE id = ?', row)
        elif kind == "sql_extra":
            if table == "missions":
                copy_row(db, table, row, mission_uuid=f"ghost-{pick}")
            else:
                copy_row(db, table, row, mission_id=100_000 + pick)  # an orphan
        return
    if folder is None or manifest is None:
        return
    if kind == "json_garbage":
        manifest.write_text('{"apiVersion": ')
    elif kind in ("json_schema", "json_value", "json_new_key"):
        try:
            doc = json.loads(manifest.read_text())
        except ValueError:  # garbage already
            return
        if kind == "json_schema":
            doc["status"]["projectPhase"] = "DONE"
        elif kind == "json_value":
            doc["metadata"]["description"] += " (edited)"
        else:
            doc["metadata"]["projectId"] = f"renamed-{pick}"
        manifest.write_text(json.dumps(doc))
    elif kind == "json_duplicate":
        copy = source / f"zz-copy-{pick}"
        if not copy.exists():
            shutil.copytree(folder, copy)
    elif kind == "json_delete":
        shutil.rmtree(folder)
    elif kind == "memory":
        memories = [folder / ".vibe" / "project_memory.json", folder / "project_memory.json"]
        memory = next((m for m in memories if m.exists()), None)
        try:
            doc = json.loads(memory.read_text()) if memory is not None else None
        except ValueError:  # garbage already
            doc = None
        if memory is None or doc is None:
            return
        if pick % 3 == 0:
            memory.write_text("[not json")
        elif pick % 3 == 1 and doc.get("domain", {}).get("concepts"):
            doc["domain"]["concepts"].append(doc["domain"]["concepts"][0])  # a repeated key
            memory.write_text(json.dumps(doc))
        else:
            doc["trajectory"]["current_focus"] = f"focus {pick}"
            memory.write_text(json.dumps(doc))


DRIFT = [
    "sql_update", "sql_delete", "sql_delete_root", "sql_extra",
    "json_garbage", "json_schema", "json_value", "json_new_key", "json_duplicate",
    "json_delete", "memory",
]  # fmt: skip


@pytest.mark.slow
@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(
    reference=st.lists(st.integers(0, 4), min_size=0, max_size=5),
    written=st.integers(0, 4),
    seed=st.integers(0, 2**16),
    drift=st.lists(st.tuples(st.sampled_from(DRIFT), st.integers(0, 999)), max_size=6),
    counts=st.lists(st.sampled_from([1, 2, 3, 5, 64]), min_size=1, max_size=2, unique=True),
)
def test_merged_dask_result_equals_the_single_process_one(
    scheduler, reference, written, seed, drift, counts
):
    with tempfile.TemporaryDirectory() as tmp:
        source, db = grow_store(Path(tmp), reference=reference, written=written, seed=seed)
        for kind, pick in drift:
            inject(kind, pick, source, db)
        local = audit(source, db, recheck=False, workers=1)
        for count in counts:
            engine = DaskEngine(scheduler=scheduler, partitions=count)
            merged = audit(source, db, recheck=False, engine=engine)
            assert outcome(merged) == outcome(local), (count, drift)


@pytest.mark.slow
def test_every_drift_kind_is_found_alike_in_one_store(scheduler, tmp_path):
    """One store with each drift at once: the kinds the law's stores produce, all found."""
    source, db = grow_store(tmp_path, reference=[2, 0, 3, 1], written=4, seed=7)
    # units: proj-000000..3 (folder = key), workspace_000..3 (ref-project-000..3)
    for kind, pick in [
        ("json_duplicate", 0), ("memory", 1), ("json_garbage", 5), ("json_schema", 2),
        ("json_value", 3), ("json_new_key", 6), ("json_delete", 7), ("memory", 3),
        ("sql_update", 10), ("sql_delete", 6), ("sql_delete_root", 4), ("sql_extra", 0),
        ("sql_extra", 1),
    ]:  # fmt: skip
        inject(kind, pick, source, db)
    local = audit(source, db, recheck=False, workers=1)
    kinds = {f.kind for f in local.findings}
    assert kinds == {
        "invalid_source", "duplicate_key", "missing_in_shadow", "extra_in_shadow",
        "value_mismatch",
    }  # fmt: skip
    assert any(f.key.startswith("<orphan ") for f in local.findings)
    for count in (1, 4, 200):
        merged = audit(source, db, recheck=False, engine=DaskEngine(scheduler, count))
        assert outcome(merged) == outcome(local), count
    # with the re-check (run once, in the driver, after the merge): the same again
    rechecked = audit(source, db, engine=DaskEngine(scheduler, 3))
    assert outcome(rechecked) == outcome(audit(source, db, workers=1))
    assert rechecked.recheck == audit(source, db, workers=1).recheck


def test_a_clean_store_is_clean_on_dask(scheduler, tmp_path):
    source, db = grow_store(tmp_path, reference=[3, 1], written=3, seed=2)
    result = audit(source, db, engine=DaskEngine(scheduler, 3))
    assert (result.status, result.findings, result.documents) == ("GREEN", (), 5)
    assert sum(s.matched for s in result.summary.values()) > 0


# --- the pieces: stable partitions, the shadow's rows split, units that moved ----------


def test_a_key_has_the_same_partition_in_every_process():
    code = (
        "from shadow_audit.engine.partition import partition_of as p;"
        "print([p(k, 7) for k in ('proj-1', 'ref-project-003', '<orphan 5>', 5, 5.0, None)])"
    )
    seen = {
        subprocess.run(
            [sys.executable, "-c", code],
            capture_output=True,
            text=True,
            check=True,
            env={**os.environ, "PYTHONHASHSEED": seed},
        ).stdout
        for seed in ("1", "2", "3")
    }
    assert len(seen) == 1
    values = eval(seen.pop())
    assert values[3] == values[4]  # 5 and 5.0 are one key in Python: one partition
    assert all(0 <= v < 7 for v in values)


def test_the_partitions_of_the_shadow_split_every_row_exactly_once(tmp_path):
    store = make_store(tmp_path, n=12)
    store.sql("DELETE FROM missions WHERE id IN (2, 5)")  # their children: orphans
    copy_row(store.db, "session_narrative", 1, mission_id=777)
    full = load_shadow(store.db, REFERENCE)
    for count in (1, 3, 40):
        parts = [
            load_shadow(store.db, REFERENCE, part=KeyPartition(i, count)) for i in range(count)
        ]
        for table in TABLES:
            keys = [k for p in parts for k in p.rows[table]]
            assert len(keys) == len(set(keys)), (table, count)
            merged = {k: v for p in parts for k, v in p.rows[table].items()}
            assert merged == full.rows[table], (table, count)
            for i, p in enumerate(parts):
                assert all(KeyPartition(i, count).owns(k[0]) for k in p.rows[table])
    assert any(k[0] == "<orphan 777>" for k in full.rows["session_narrative"])


def test_a_unit_whose_key_another_partition_owns_is_left_out_and_named(tmp_path):
    store = make_store(tmp_path, n=12)
    primaries = [str(p / "project_manifest.json") for p in units(store.source)]
    keys = [p.parent.name for p in map(Path, primaries)]
    part = KeyPartition(0, 2)
    task = PartitionTask(str(store.source), str(store.db), REFERENCE, part, tuple(primaries))
    result = audit_partition(task)
    owned = [k for k in keys if part.owns(k)]
    assert 0 < len(owned) < len(keys)
    assert sorted(k for _, k in result.moved) == sorted(k for k in keys if not part.owns(k))
    assert result.findings == [] and result.expected.documents == len(owned)
    assert sorted(result.expected.units) == sorted(owned)


def test_units_that_moved_are_added_to_their_partition_which_runs_again(tmp_path):
    """A unit whose key changed between the key discovery and its partition's run is
    left out where it was and audited where its new key belongs."""
    from shadow_audit.engine.distributed import _reassign
    from shadow_audit.engine.partition import partition_of

    store = make_store(tmp_path, n=12)
    primaries = [str(p / "project_manifest.json") for p in units(store.source)]
    count = 3
    first = primaries[0]
    key = next(f"moved-{i}" for i in range(99) if partition_of(f"moved-{i}", count) == 2)
    assigned = {0: [first], 1: primaries[1:], 2: []}
    task = PartitionTask(
        str(store.source), str(store.db), REFERENCE, KeyPartition(0, count), (first,)
    )
    manifest = json.loads(Path(first).read_text())
    manifest["metadata"]["projectId"] = key
    Path(first).write_text(json.dumps(manifest))
    results = {0: audit_partition(task)}
    assert results[0].moved == [(first, key)] and results[0].expected.documents == 0
    assert _reassign(results, assigned, count) == {2}
    assert assigned == {0: [], 1: primaries[1:], 2: [first]}
    assert results[0].moved == [] and _reassign(results, assigned, count) == set()


def test_engine_options_are_checked():
    with pytest.raises(UsageError, match="partitions must be a whole number >= 1"):
        DaskEngine(partitions=0)
    with pytest.raises(UsageError, match="workers must be"):
        DaskEngine(workers=-1)
    with pytest.raises(UsageError, match="scheduler address is empty"):
        DaskEngine(scheduler=" ")


def test_an_unknown_engine_is_a_usage_error(store):
    with pytest.raises(UsageError, match="'spark' is not one of"):
        audit(store.source, store.db, engine="spark")


# --- the CLI, as a subprocess ----------------------------------------------------------


def report(out: Path) -> dict:
    return json.loads((out / "report.json").read_text())


@pytest.mark.slow
def test_cli_engine_dask_reports_what_the_local_engine_reports(scheduler, tmp_path):
    source, db = grow_store(tmp_path, reference=[2, 1], written=3, seed=5)
    for i, kind in enumerate(["sql_update", "json_garbage", "sql_delete_root", "json_new_key"]):
        inject(kind, i * 3, source, db)
    local = audit_cli(source, db, tmp_path / "local", "--no-history")
    on_dask = audit_cli(source, db, tmp_path / "dask", "--no-history", "--engine", "dask",
                        "--scheduler", scheduler, "--partitions", "3")  # fmt: skip
    own_cluster = audit_cli(source, db, tmp_path / "own", "--no-history", "--engine", "dask")
    assert (local.returncode, on_dask.returncode, own_cluster.returncode) == (1, 1, 1), (
        on_dask.stderr + own_cluster.stderr
    )
    for done in (on_dask, own_cluster):  # a loaded machine may draw dask warnings, no more
        assert "Traceback" not in done.stderr and "ERROR" not in done.stderr, done.stderr
    expected = report(tmp_path / "local")
    for out in ("dask", "own"):
        got = report(tmp_path / out)
        assert got["findings"] == expected["findings"]
        assert (got["summary"], got["coverage"], got["status"]) == (
            expected["summary"], expected["coverage"], "RED",
        )  # fmt: skip


@pytest.mark.slow
def test_cli_engine_dask_on_a_clean_store_exits_0(tmp_path):
    store = make_store(tmp_path, n=4)
    done = audit_cli(store.source, store.db, tmp_path / "out", "--no-history",
                     "--engine", "dask", "--partitions", "2")  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert report(tmp_path / "out")["status"] == "GREEN"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--engine", "dask", "--partitions", "0"], "--partitions: 0 is not a whole number >= 1"),
        (["--engine", "dask", "--partitions", "x"], "--partitions: 'x' is not a whole number"),
        (["--partitions", "2"], "--scheduler and --partitions need --engine dask"),
        (["--scheduler", "tcp://127.0.0.1:1"], "--scheduler and --partitions need --engine dask"),
        (["--engine", "spark"], "invalid choice: 'spark'"),
    ],
)
def test_cli_bad_engine_options_are_usage_errors(store, tmp_path, args, message):
    done = audit_cli(store.source, store.db, tmp_path / "out", *args)
    assert done.returncode == 2
    assert message in done.stderr
    assert not (tmp_path / "out" / "report.json").exists()


@pytest.mark.slow
def test_cli_unreachable_scheduler_is_one_line_exit_2(store, tmp_path):
    with socket_nobody_listens_on() as port:
        done = subprocess.run(
            [sys.executable, "-m", "shadow_audit.cli", "audit", "--source", str(store.source),
             "--shadow", str(store.db), "--out", str(tmp_path / "out"), "--no-history",
             "--engine", "dask", "--scheduler", f"tcp://127.0.0.1:{port}"],
            capture_output=True, text=True, timeout=60,
        )  # fmt: skip
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith(f"shadow-audit: dask scheduler tcp://127.0.0.1:{port}: cannot")
    assert not (tmp_path / "out" / "report.json").exists()


class socket_nobody_listens_on:
    """A local port that was free a moment ago (bound, then closed): nothing listens."""

    def __enter__(self) -> int:
        import socket

        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            return s.getsockname()[1]

    def __exit__(self, *exc: object) -> None:
        return None


def test_without_dask_the_engine_says_how_to_install_it(store, tmp_path):
    blocked = (
        "import sys; sys.modules['distributed'] = None; sys.modules['dask'] = None;"
        "from shadow_audit.cli import main; sys.exit(main(sys.argv[1:]))"
    )
    done = subprocess.run(
        [sys.executable, "-c", blocked, "audit", "--source", str(store.source),
         "--shadow", str(store.db), "--out", str(tmp_path / "out"), "--engine", "dask"],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [
        "shadow-audit: the dask engine needs dask.distributed, which is not installed: "
        "pip install 'shadow-audit[dask]'"
    ]


def test_the_local_engine_never_imports_dask(store):
    code = (
        "import sys; import shadow_audit as sa;"
        f"r = sa.audit({str(store.source)!r}, {str(store.db)!r});"
        "print(r.status, sorted(m for m in sys.modules if m.split('.')[0] in ('dask', 'distributed')))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "GREEN []"
