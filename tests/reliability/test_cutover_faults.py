"""Cutover faults with real processes: a transition SIGKILLed at random moments leaves the
phase old or new with a consistent history; writers racing a transition never commit a save
under the phase that was current before it."""

from __future__ import annotations

import itertools
import os
import random
import signal
import sqlite3
import subprocess
import sys
from pathlib import Path

import orjson
import pytest

from shadow_audit.cutover import advance, cutover_status
from shadow_audit.store import open_store
from tests.reliability.store_process import PROJECTS

WORKER = Path(__file__).with_name("store_process.py")
KILLS = int(os.environ.get("SHADOW_AUDIT_CUTOVER_KILLS", "12"))
CYCLE = ["shadow", "read-verify", "sqlite-primary", "json-retired"]


def start(*args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, str(WORKER), *args],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])},
    )  # fmt: skip


def seeded(root: Path) -> None:
    with open_store(root / "ws", root / "s.db") as store:
        for manifest, memory in PROJECTS:
            store.save({"manifest": manifest, "memory": memory})


def read_lines(proc: subprocess.Popen[str], n: int) -> list[str]:
    assert proc.stdout is not None
    lines = []
    for _ in range(n):
        line = proc.stdout.readline()
        assert line, proc.stderr.read() if proc.stderr else "process ended"
        lines.append(line.strip())
    return lines


@pytest.mark.slow  # real processes killed or racing: a reliability test
def test_sigkill_during_transitions_leaves_the_phase_old_or_new(tmp_path):
    seeded(tmp_path)
    rng = random.Random(5)
    last = "shadow"
    for _ in range(KILLS):
        mover = start("mover", str(tmp_path))
        printed = read_lines(mover, rng.randint(1, 6))
        os.kill(mover.pid, signal.SIGKILL)
        mover.wait()
        # what it printed before the kill but after our last read: on a loaded machine the
        # mover may commit (and print) more moves between that read and the kill
        assert mover.stdout is not None
        printed += mover.stdout.read().split()
        conn = sqlite3.connect(tmp_path / "s.db")
        assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        conn.close()
        status = cutover_status(tmp_path / "s.db")
        transitions = status.transitions
        assert all(a.to_phase == b.from_phase for a, b in itertools.pairwise(transitions))
        assert transitions[0].from_phase == "shadow"
        assert status.phase == transitions[-1].to_phase
        last = printed[-1]
        i = CYCLE.index(last)
        neighbours = {last, *(CYCLE[j] for j in (i - 1, i + 1) if 0 <= j < len(CYCLE))}
        assert status.phase in neighbours, (printed, status.phase)
        assert status.transitions[-1].to_phase == status.phase
    assert len(cutover_status(tmp_path / "s.db").transitions) >= KILLS


@pytest.mark.slow  # real processes killed or racing: a reliability test
def test_no_save_commits_under_the_old_phase_after_a_transition(tmp_path):
    """A trigger logs, in commit order, every save (its message) and every transition; each
    writer reports the phase each save ran under. Between two transitions, every save must
    report the phase of the transition before it."""
    seeded(tmp_path)
    advance(tmp_path / "ws", tmp_path / "s.db", force=True, reason="to read-verify")
    conn = sqlite3.connect(tmp_path / "s.db", isolation_level=None)
    conn.executescript(
        """
        CREATE TABLE save_log (id INTEGER PRIMARY KEY AUTOINCREMENT, what TEXT NOT NULL);
        CREATE TRIGGER log_save AFTER UPDATE OF status_message ON missions
            BEGIN INSERT INTO save_log (what) VALUES (NEW.status_message); END;
        CREATE TRIGGER log_phase AFTER INSERT ON shadow_audit_phases
            BEGIN INSERT INTO save_log (what) VALUES ('phase ' || NEW.to_phase); END;
        """
    )
    conn.close()
    writers = [start("writer", str(tmp_path), str(i), f"w{i}") for i in range(2)]
    reports: dict[str, dict[int, tuple[str, int]]] = {"w0": {}, "w1": {}}

    def collect(until: str) -> None:
        """Read each writer's reports until it has saved 5 times under ``until``."""
        for name, proc in zip(reports, writers, strict=True):
            under = 0
            while under < 5:
                (line,) = read_lines(proc, 1)
                i, phase, json_written = line.split()
                reports[name][int(i)] = (phase, int(json_written))
                under += phase == until

    try:
        collect("read-verify")
        for target in ("sqlite-primary", "json-retired"):
            advance(tmp_path / "ws", tmp_path / "s.db", force=True, reason="while writing")
            collect(target)
    finally:
        for proc in writers:
            proc.kill()
            proc.wait()
    conn = sqlite3.connect(tmp_path / "s.db")
    log = [row[0] for row in conn.execute("SELECT what FROM save_log ORDER BY id")]
    conn.close()
    phase = "read-verify"
    checked = 0
    for what in log:
        if what.startswith("phase "):
            phase = what.split()[1]
            continue
        name, i = what.split()
        if int(i) in reports[name]:
            assert reports[name][int(i)][0] == phase, (what, reports[name][int(i)], phase)
            assert reports[name][int(i)][1] == (phase != "json-retired")
            checked += 1
    assert log.count("phase sqlite-primary") == log.count("phase json-retired") == 1
    assert checked >= 28
    seen = {p for r in reports.values() for p, _ in r.values()}
    assert seen == {"read-verify", "sqlite-primary", "json-retired"}


@pytest.mark.slow  # real processes killed or racing: a reliability test
def test_sigkill_around_the_json_backup_is_found_by_the_reverse_audit_and_repaired(tmp_path):
    """Writers in sqlite-primary killed at random moments: the audit (SQLite the truth) may
    find the copy ahead on a key being saved when killed, never anything else; repair
    rewrites the JSON from SQLite and the audit is GREEN."""
    from shadow_audit.engine.run import audit
    from shadow_audit.export import repair_json

    seeded(tmp_path)
    for _ in range(2):
        advance(tmp_path / "ws", tmp_path / "s.db", force=True, reason="to sqlite-primary")
    rng = random.Random(9)
    killed: set[str] = set()
    for k in range(5):
        killed.add(f"proj-00000{k % 3}")
        writer = start("writer", str(tmp_path), str(k % 3), f"k{k}")
        read_lines(writer, rng.randint(1, 8))
        os.kill(writer.pid, signal.SIGKILL)
        writer.wait()
        result = audit(tmp_path / "ws", tmp_path / "s.db")
        assert result.truth == "sqlite"
        assert {f.key.split("/")[0] for f in result.findings} <= killed
    repaired = repair_json(tmp_path / "ws", tmp_path / "s.db", execute=True)
    assert repaired.after is None or repaired.after.status == "GREEN"
    assert audit(tmp_path / "ws", tmp_path / "s.db").status == "GREEN"


def test_sigkill_between_the_json_backup_and_the_commit_is_found_and_repaired(tmp_path):
    """The exact instant: the backup of a save is on disk, SQLite has not committed (the
    process dies). SQLite, the truth, keeps the old version; the reverse audit reports the
    copy's one differing field; repair rewrites the JSON from SQLite and the audit is GREEN."""
    from shadow_audit.engine.run import audit
    from shadow_audit.export import repair_json

    seeded(tmp_path)
    for _ in range(2):
        advance(tmp_path / "ws", tmp_path / "s.db", force=True, reason="to sqlite-primary")
    key = PROJECTS[1][0]["metadata"]["projectId"]
    saved = PROJECTS[1][0]["status"]["message"]
    dying = start("backup-dies", str(tmp_path), "1", "backup ahead of the truth")
    _, err = dying.communicate(timeout=120)
    assert dying.returncode == -signal.SIGKILL, err
    with open_store(tmp_path / "ws", tmp_path / "s.db") as store:
        assert store.phase == "sqlite-primary"
        assert store.load(key)["manifest"]["status"]["message"] == saved
    result = audit(tmp_path / "ws", tmp_path / "s.db")
    assert result.truth == "sqlite"
    assert [(f.kind, f.key, f.field, f.source_value, f.shadow_value) for f in result.findings] == [
        ("value_mismatch", key, "status_message", saved, "backup ahead of the truth")
    ]
    repaired = repair_json(tmp_path / "ws", tmp_path / "s.db", execute=True)
    assert repaired.after is not None and repaired.after.status == "GREEN"
    manifest = orjson.loads((tmp_path / "ws" / key / "project_manifest.json").read_bytes())
    assert manifest["status"]["message"] == saved
