"""Crash safety: a real writer process SIGKILLed at random moments, 200 times. After every
kill each JSON file parses and is exactly one whole version, the database passes
integrity_check, the ledger parses (a torn last line is detected); at the end the resumed
writer (and backfill) leave the audit GREEN."""

from __future__ import annotations

import os
import random
import signal
import sqlite3
import subprocess
import sys
from pathlib import Path

import orjson
import pytest

from shadow_audit.backfill import backfill
from shadow_audit.engine.run import audit
from shadow_audit.ledger import FailureLedger
from shadow_audit.stores.json_store import JsonStore
from shadow_audit.stores.sqlite_shadow import SqliteShadow
from tests.reliability.writer_process import versioned

WORKER = Path(__file__).with_name("writer_process.py")
PROJECTS = 4
KILLS = int(os.environ.get("SHADOW_AUDIT_KILLS", "200"))


def start(root: Path, first: int, count: int) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, str(WORKER), str(root), str(PROJECTS), str(first), str(count), "--ledger-every", "3"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip


def check_files(root: Path, done: int) -> None:
    """Every file is one whole version: the last completed save of its project, or the next."""
    for p in range(PROJECTS):
        saves = [i for i in range(done + 2) if i % PROJECTS == p]
        allowed = {i // PROJECTS + 1 for i in saves[-2:]}
        for name, index in (("project_manifest.json", 0), (".vibe/project_memory.json", 1)):
            path = root / "src" / f"proj-{p:06d}" / name
            if not path.exists():
                assert all(i > done for i in saves), f"{path} lost after completed saves"
                continue
            doc = orjson.loads(path.read_bytes())  # parses: never torn
            version = (
                doc["spec"]["vibe"]["version"]
                if index == 0
                else int(doc["narrative"][0]["summary"].split()[0][1:])
            )
            assert version in allowed, (path, version, allowed)
            assert doc == versioned(p, version)[index], f"{path} mixes versions"


@pytest.mark.slow
def test_writer_survives_sigkill_at_random_moments(tmp_path):
    SqliteShadow(tmp_path / "s.db")
    rng = random.Random(2026)
    done, torn_seen, kills = -1, 0, 0
    while kills < KILLS:
        proc = start(tmp_path, done + 1, 10_000)
        want = rng.randint(1, 6)
        got = 0
        while got < want:
            line = proc.stdout.readline()
            assert line, proc.stderr.read()
            done, got = int(line), got + 1
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        # Read through the text wrapper, not communicate(): readline() may already hold the
        # lines of later saves in its buffer, and communicate() reads the pipe beneath it.
        rest = proc.stdout.read()
        proc.stdout.close()
        proc.stderr.close()
        kills += 1
        for line in rest.splitlines():  # saves completed between our read and the kill
            done = int(line)
        check_files(tmp_path, done)
        conn = sqlite3.connect(tmp_path / "s.db")
        assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        conn.close()
        contents = FailureLedger(tmp_path / "s.db.failures.jsonl").read()
        assert contents.torn <= torn_seen + 1  # at most the line of this kill is new and torn
        torn_seen = contents.torn
    # resume: the writer runs a full pass to completion; the shadow catches up
    finish = start(tmp_path, done + 1, PROJECTS)
    _, err = finish.communicate(timeout=120)
    assert finish.returncode == 0, err
    result = audit(tmp_path / "src", tmp_path / "s.db")
    assert result.status == "GREEN", [f.to_dict() for f in result.findings]
    assert backfill(JsonStore(tmp_path / "src"), SqliteShadow(tmp_path / "s.db")).skipped == ()
    assert audit(tmp_path / "src", tmp_path / "s.db").status == "GREEN"
    print(
        f"\ncrash harness: {kills} SIGKILLs, {done + 1} saves completed, torn ledger lines detected: {torn_seen}, files torn: 0"
    )
