"""Read-verify under live load (issue 13, Deliver 5): verified reads and saves take the same
per-unit lock, so a read mismatch is never a save in flight.

Real processes save continuously through ``open_store(...).save`` in read-verify while this
process loads with ``read_sample=1.0``: no read mismatch is recorded. The same reads done
without the lock (JSON, then the rows, compared by ``verify_rows``, as read-verify did
before) do see mismatches under that load, so the first test can fail. An out-of-band SQL
edit of a unit nobody writes is caught by every verified read of it. A ``Store`` writer and
a ``DualWriter`` writer racing on the same units leave the audit GREEN, and the audits run
during the race report no finding.

The stores live in memory (/dev/shm) when the machine has it, as in test_live_load.

Run as a script, this file is the Store writer process:

    python test_read_verify_load.py ROOT FIRST COUNT STOP

saves versions of projects FIRST .. FIRST+COUNT-1 through ``open_store`` until the file STOP
exists, printing one line per completed save.
"""

from __future__ import annotations

import os
import random
import sqlite3
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from shadow_audit.config import Config
from shadow_audit.cutover import advance
from shadow_audit.engine.run import audit
from shadow_audit.mapping import DocumentMap
from shadow_audit.readcheck import ReadCheck, read_checks, reads_log_path, verify_rows
from shadow_audit.store import Store, open_store
from shadow_audit.stores.json_store import JsonStore
from shadow_audit.stores.rows import UnitReader
from shadow_audit.stores.sqlite_shadow import table_columns
from tests.conftest import wait_for
from tests.reliability.processes import SavingProcess
from tests.reliability.writer_process import versioned

HERE = Path(__file__).resolve()
ROOT = HERE.parents[2]  # on the writer processes' PYTHONPATH, as pytest has it
LOAD_WRITER = HERE.with_name("load_writer.py")
PROJECTS = 6
WRITTEN = range(0, 3)  # the writers save these
QUIET = 5  # nobody writes this one
LOADS = 300
AUDITS = 10


def pid(i: int) -> str:
    return f"proj-{i:06d}"


@pytest.fixture
def root(tmp_path: Path) -> Iterator[Path]:
    shm = Path("/dev/shm")
    if not (shm.is_dir() and os.access(shm, os.W_OK)):
        yield tmp_path
        return
    with tempfile.TemporaryDirectory(dir=shm, prefix="shadow-audit-reads-") as scratch:
        yield Path(scratch)


def build(root: Path) -> tuple[Path, Path]:
    """PROJECTS projects saved through the store, then the phase forced to read-verify."""
    source, db = root / "workspaces", root / "shadow.db"
    with open_store(source, db) as store:
        for i in range(PROJECTS):
            manifest, memory = versioned(i, 1)
            store.save({"manifest": manifest, "memory": memory})
    advance(source, db, force=True, reason="read-verify load test")
    assert open_store(source, db).phase == "read-verify"
    return source, db


_ENV = {**os.environ, "PYTHONPATH": str(ROOT)}


def store_writer(root: Path, units: range, stop: Path) -> SavingProcess:
    return SavingProcess(
        str(HERE), str(root), str(units.start), str(len(units)), str(stop), env=_ENV
    )


def dual_writer(root: Path, units: range, stop: Path) -> SavingProcess:
    args = (str(root), "dual", str(units.start), str(len(units)), "1000", str(stop))
    return SavingProcess(str(LOAD_WRITER), *args, env=_ENV)


def unlocked_mismatch(store: JsonStore, conn: sqlite3.Connection, key: str) -> bool:
    """Read-verify without the lock: the JSON documents, then the key's rows in one read
    transaction, compared by the same function the store uses."""
    mapping: DocumentMap = store.mapping
    documents = {
        spec.name: store.read(store.path_for(key, spec.name)) for spec in mapping.documents()
    }
    conn.execute("BEGIN")
    try:
        rows = UnitReader(mapping).read(conn, key)
    finally:
        conn.execute("COMMIT")
    found = verify_rows(
        mapping, key, documents, rows, columns=lambda t: set(table_columns(conn, t))
    )
    return bool(found)


def checks(db: Path) -> list[ReadCheck]:
    return read_checks(reads_log_path(db), include_skipped=True)


@pytest.mark.slow
def test_verified_reads_under_store_writers_never_mismatch_and_unlocked_ones_do(root):
    source, db = build(root)
    stop = root / "stop"
    writers = [store_writer(root, WRITTEN, stop) for _ in range(2)]
    try:
        wait_for(lambda: all(w.saves >= 5 for w in writers), "both writers to be saving")
        store = open_store(source, db, config=_sample_all(), seed=7)
        saves0, started = sum(w.saves for w in writers), time.monotonic()
        for n in range(LOADS):
            key = pid(WRITTEN[n % len(WRITTEN)])
            assert store.load(key)["manifest"]["metadata"]["projectId"] == key
        saves = sum(w.saves for w in writers) - saves0
        elapsed = time.monotonic() - started

        # The same reads without the lock see saves in flight (the test can fail).
        shadow_conn = sqlite3.connect(db, isolation_level=None)
        unlocked, tried = 0, 0
        try:
            json_store = JsonStore(source)
            while tried < LOADS or (not unlocked and tried < 20 * LOADS):
                unlocked += unlocked_mismatch(json_store, shadow_conn, pid(tried % 3))
                tried += 1
        finally:
            shadow_conn.close()
    finally:
        stop.touch()
        for w in writers:
            w.finish()
    done = checks(db)
    verified = [c for c in done if c.skipped is None]
    skipped = [c for c in done if c.skipped is not None]
    mismatched = [c for c in verified if not c.matched]
    print(
        f"\nread-verify under load: {LOADS} loads, {saves} saves meanwhile "
        f"({saves / elapsed:.0f}/s), {len(verified)} verified, {len(skipped)} skipped, "
        f"{len(mismatched)} mismatched; without the lock: {unlocked} of {tried} reads mismatched"
    )
    assert saves > 0, "no save happened while the test loaded"
    assert len(done) == LOADS
    assert mismatched == [], [(c.key, c.findings[:2], c.error) for c in mismatched[:3]]
    assert all("lock stayed busy" in (c.skipped or "") and not c.matched for c in skipped)
    assert len(verified) > LOADS // 2
    assert unlocked > 0, f"{tried} unlocked reads under load saw no mismatch"


@pytest.mark.slow
def test_an_out_of_band_edit_is_caught_by_every_verified_read_under_load(root):
    source, db = build(root)
    conn = sqlite3.connect(db)
    conn.execute(
        "UPDATE missions SET description = 'tampered' WHERE mission_uuid = ?", (pid(QUIET),)
    )
    conn.commit()
    conn.close()
    stop = root / "stop"
    writers = [store_writer(root, WRITTEN, stop) for _ in range(2)]
    try:
        wait_for(lambda: all(w.saves >= 5 for w in writers), "both writers to be saving")
        store = open_store(source, db, config=_sample_all(), seed=7)
        for n in range(60):
            key = pid(QUIET) if n % 2 else pid(WRITTEN[n % 3])
            store.load(key)
    finally:
        stop.touch()
        for w in writers:
            w.finish()
    done = checks(db)
    quiet = [c for c in done if c.key == pid(QUIET)]
    others = [c for c in done if c.key != pid(QUIET) and c.skipped is None]
    assert len(quiet) == 30
    assert all(c.skipped is None for c in quiet)  # nobody holds its lock
    assert all(
        [(f["kind"], f["field"], f["shadow_value"]) for f in c.findings]
        == [("value_mismatch", "description", "tampered")]
        for c in quiet
    ), [c.findings for c in quiet if c.matched][:1]
    assert others and all(c.matched for c in others)


@pytest.mark.slow
def test_store_and_dualwriter_racing_on_one_unit_leave_the_audit_green(root):
    source, db = build(root)
    stop = root / "stop"
    writers = [store_writer(root, WRITTEN, stop), dual_writer(root, WRITTEN, stop)]
    runs: list[int] = []
    try:
        wait_for(lambda: all(w.saves >= 5 for w in writers), "both writers to be saving")
        for _ in range(AUDITS):
            before = sum(w.saves for w in writers)
            result = audit(source, db)  # the locked re-check, no settle wait
            runs.append(sum(w.saves for w in writers) - before)
            assert not result.findings, [f.identity for f in result.findings[:5]]
        assert all(w.proc.poll() is None for w in writers)
    finally:
        stop.touch()
        for w in writers:
            w.finish()
    print(f"\nStore + DualWriter race: saves during each audit {runs}")
    assert sum(runs) > 0, "no save happened while the audits ran"
    assert not audit(source, db, recheck=False).findings


def _sample_all() -> Config:
    return Config(cutover={"read_sample": 1.0})


def main(argv: list[str]) -> None:
    """The Store writer process: continuous saves through ``open_store`` until STOP."""
    root, first, count, stop = Path(argv[0]), int(argv[1]), int(argv[2]), Path(argv[3])
    store: Store = open_store(root / "workspaces", root / "shadow.db", busy_timeout=30.0)
    rng = random.Random(os.getpid())
    versions: dict[int, int] = {}
    while not stop.exists():
        project = first + rng.randrange(count)
        versions[project] = versions.get(project, 1) + rng.randint(1, 7)
        manifest, memory = versioned(project, versions[project])
        store.save({"manifest": manifest, "memory": memory})
        sys.stdout.write("1\n")
        sys.stdout.flush()


if __name__ == "__main__":
    main(sys.argv[1:])
