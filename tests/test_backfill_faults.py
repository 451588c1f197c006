"""Backfill under faults a team meets: its process killed while its workers read, and a
database another writer keeps locked for longer than the busy timeout."""

from __future__ import annotations

import signal
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from shadow_audit.backfill import backfill
from shadow_audit.errors import DatabaseError
from shadow_audit.profiles import REFERENCE
from shadow_audit.stores.changes import trigger_sql
from shadow_audit.stores.sqlite_shadow import SqliteShadow
from tests.conftest import run_cli, wait_for
from tests.reference_growth import write_reference_store

# a memory or none, and two past the reference's 50-session trim
SESSIONS = [0, 1, 3, 2, 5, 0, 1, 2, 55, 3, 1, 0, 2, 4, 1, 60, 2, 1, 0, 3] * 3


@pytest.fixture
def source(tmp_path: Path) -> Path:
    write_reference_store(tmp_path / "workspaces", SESSIONS, seed=21)
    return tmp_path / "workspaces"


def missions(db: Path) -> int:
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as conn:
        return int(conn.execute("SELECT count(*) FROM missions").fetchone()[0])


# --- a backfill killed while its workers read ------------------------------------------

# the backfill stops after its first batch, its pool of two workers started, until killed
STOPPED = """
import sys, threading
from pathlib import Path
from shadow_audit.backfill import backfill
def stop(n):
    Path(sys.argv[3]).write_text("written")
    threading.Event().wait()
backfill(sys.argv[1], sys.argv[2], workers=2, batch=5, progress=stop)
"""


def children(pid: int) -> set[int]:
    """The live (not zombie) processes whose parent is ``pid``."""
    found = set()
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:  # gone meanwhile
            continue
        if int(fields[1]) == pid and fields[0] != "Z":
            found.add(int(stat.parent.name))
    return found


def alive(pid: int) -> bool:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return False
    return fields[0] != "Z"


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads /proc")
@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGTERM], ids=["SIGKILL", "SIGTERM"])
def test_the_workers_of_a_killed_backfill_exit_with_it(tmp_path, source, sig):
    """Killed by a signal it cannot handle (kill -9, a service manager's SIGTERM), the
    backfill cannot shut its pool down: its workers must not wait for work forever,
    holding its stdout and stderr (a `| tee` would never end)."""
    marker = tmp_path / "first-batch"
    child = subprocess.Popen(
        [sys.executable, "-c", STOPPED, str(source), str(tmp_path / "s.db"), str(marker)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    workers: set[int] = set()
    try:
        wait_for(marker.exists, "the first batch to be written")
        workers = children(child.pid)
        assert len(workers) == 2
        child.send_signal(sig)
        child.wait()
        wait_for(lambda: not any(alive(w) for w in workers), "the orphaned workers to exit")
    finally:
        child.kill()
        for worker in workers:  # ours, by pid: none left behind should the test fail
            if alive(worker):
                subprocess.run(["kill", "-9", str(worker)], check=False)
    assert missions(tmp_path / "s.db") % 5 == 0  # whole batches
    rerun = backfill(source, tmp_path / "s.db")
    assert rerun.imported + rerun.unchanged == len(SESSIONS)


# the CLI's backfill, stopped after its first batch (its progress tick waits) until Ctrl-C
INTERRUPTED = """
import contextlib, sys, threading
from pathlib import Path
import shadow_audit.cli as cli

@contextlib.contextmanager
def bars(label, total=None):
    def tick(n):
        Path(sys.argv[3]).write_text("written")
        threading.Event().wait()
    yield tick

cli.progress_bars = bars
args = ["backfill", "--source", sys.argv[1], "--shadow", sys.argv[2], "--batch", "5"]
sys.exit(cli.main([*args, "--workers", "1"]))
"""


def test_ctrl_c_stops_the_backfill_keeping_its_batches_and_says_so(tmp_path, source):
    marker, db = tmp_path / "first-batch", tmp_path / "s.db"
    child = subprocess.Popen(
        [sys.executable, "-c", INTERRUPTED, str(source), str(db), str(marker)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        wait_for(marker.exists, "the first batch to be written")
        child.send_signal(signal.SIGINT)
        _, err = child.communicate(timeout=60)
    finally:
        child.kill()
    assert child.returncode == 2, err
    assert err.splitlines() == [
        "shadow-audit: interrupted: the batches written are kept; "
        "run backfill again to import the rest"
    ]
    assert missions(db) == 5
    with sqlite3.connect(db) as conn:
        kept = dict(conn.execute("SELECT name, sql FROM sqlite_master WHERE type = 'trigger'"))
    assert kept == trigger_sql(REFERENCE)
    rerun = backfill(source, db)
    assert (rerun.imported, rerun.unchanged) == (len(SESSIONS) - 5, 5)


# --- a database locked by another writer ------------------------------------------------

HOLDER = """
import sqlite3, sys
conn = sqlite3.connect(sys.argv[1], isolation_level=None)
conn.execute("BEGIN IMMEDIATE")
print("held", flush=True)
sys.stdin.read()  # until the test closes it
conn.execute("ROLLBACK")
"""


def hold_lock(db: Path) -> subprocess.Popen[str]:
    """Another process that holds the database's write lock until its stdin is closed."""
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(db)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert holder.stdout is not None
    assert holder.stdout.readline() == "held\n"
    return holder


def release(holder: subprocess.Popen[str]) -> None:
    assert holder.stdin is not None
    holder.stdin.close()
    holder.wait()


def test_a_lock_held_past_the_busy_timeout_mid_run_stops_the_backfill_keeping_its_batches(
    tmp_path, source
):
    """Locked by another writer between two batches for longer than the busy timeout: the
    backfill stops with one error naming the database (an I/O error, not a unit per
    document reported as skipped after waiting the timeout for each one); the batches
    written before stay, and a second run completes it."""
    db = tmp_path / "s.db"
    shadow = SqliteShadow(db, busy_timeout=0.05)
    holders: list[subprocess.Popen[str]] = []

    def lock_after_first_batch(n: int) -> None:
        if not holders:
            holders.append(hold_lock(db))

    try:
        with pytest.raises(DatabaseError) as raised:
            backfill(source, shadow, workers=1, batch=5, progress=lock_after_first_batch)
    finally:
        for holder in holders:
            release(holder)
    message = str(raised.value)
    assert message.startswith(f"database {db}: ") and "database is locked" in message
    assert "\n" not in message
    assert missions(db) == 5  # the first batch, whole
    rerun = backfill(source, db)
    assert (rerun.imported, rerun.unchanged, rerun.skipped) == (len(SESSIONS) - 5, 5, ())


@pytest.mark.slow  # waits the CLI's busy timeout (5 s)
def test_cli_backfill_into_a_database_locked_past_the_busy_timeout_is_exit_2(tmp_path, source):
    db = tmp_path / "s.db"
    backfill(source, db)
    with sqlite3.connect(db) as conn:
        before = conn.execute("SELECT * FROM missions ORDER BY id").fetchall()
    holder = hold_lock(db)
    try:
        done = run_cli("backfill", "--source", str(source), "--shadow", str(db))
    finally:
        release(holder)
    assert done.returncode == 2, done.stdout + done.stderr
    assert done.stderr.strip().splitlines() == [
        f"shadow-audit: database {db}: cannot write: database is locked "
        "(another connection held it for longer than the busy timeout, 5 s)"
    ]
    with sqlite3.connect(db) as conn:
        assert conn.execute("SELECT * FROM missions ORDER BY id").fetchall() == before


# --- what the summary line says ---------------------------------------------------------


def test_cli_backfill_counts_are_grouped_alike(tmp_path):
    """Every count of the summary line is grouped by thousands, as the unit count is (a
    line reading "1,040 units ...: 1040 imported" looks like two different numbers)."""
    write_reference_store(tmp_path / "src", [0, 1] * 520, seed=3)
    db = tmp_path / "s.db"
    done = run_cli("backfill", "--source", str(tmp_path / "src"), "--shadow", str(db))
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[-1] == (
        f"backfill: 1,040 units into {db}: 1,040 imported, 0 unchanged; 0 documents skipped"
    )
    again = run_cli("backfill", "--source", str(tmp_path / "src"), "--shadow", str(db))
    assert ": 0 imported, 1,040 unchanged;" in again.stdout
