"""Progress: every long phase of an audit and of a backfill is announced with its total and
ticked to it; a plain callable still counts source units only; bars show on a terminal only."""

from __future__ import annotations

import fcntl
import os
import pty
import struct
import subprocess
import sys
import termios
from pathlib import Path

from shadow_audit.backfill import backfill
from shadow_audit.engine.run import audit


class Recorder:
    def __init__(self) -> None:
        self.phases: list[tuple[str, int | None, str]] = []
        self.done: list[int] = []

    def phase(self, name: str, *, total: int | None, unit: str) -> None:
        self.phases.append((name, total, unit))
        self.done.append(0)

    def __call__(self, n: int, /) -> None:
        self.done[-1] += n


def test_an_audit_announces_each_phase_with_its_total_and_reaches_it(store):
    seen = Recorder()
    audit(store.source, store.db, progress=seen, workers=1)
    assert seen.phases == [
        ("reading shadow", 5, "table"),
        ("reading source and comparing", 5, "unit"),
        ("comparing", 5, "table"),
    ]
    assert seen.done == [5, 5, 5]


def test_a_plain_callable_counts_source_units_only(store):
    ticks: list[int] = []
    audit(store.source, store.db, progress=ticks.append, workers=1)
    assert ticks == [1] * 5


def test_a_backfill_announces_its_units(store, tmp_path):
    seen = Recorder()
    backfill(store.source, tmp_path / "new.db", progress=seen)
    assert (seen.phases, seen.done) == ([("backfill", 5, "unit")], [5])


def on_a_terminal(args: list[str], cwd: Path) -> str:
    """What ``shadow-audit ARGS`` shows on a terminal's stderr (120 columns)."""
    leader, follower = pty.openpty()
    fcntl.ioctl(follower, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 120, 0, 0))
    proc = subprocess.Popen(
        [sys.executable, "-m", "shadow_audit.cli", *args],
        stdout=subprocess.PIPE,
        stderr=follower,
        cwd=cwd,
    )
    os.close(follower)
    shown = b""
    while True:
        try:
            chunk = os.read(leader, 4096)
        except OSError:  # the child closed the terminal
            break
        if not chunk:
            break
        shown += chunk
    proc.communicate(timeout=300)
    os.close(leader)
    assert proc.returncode == 0
    return shown.decode(errors="replace")


def test_bars_with_totals_show_on_a_terminal(store, tmp_path):
    args = ["audit", "--source", str(store.source), "--shadow", str(store.db)]
    text = on_a_terminal([*args, "--out", str(tmp_path / "o")], tmp_path)
    for phase in ("reading shadow", "reading source and comparing", "comparing"):
        assert f"audit: {phase}" in text
    assert text.count("/5 [") >= 3  # each phase shows its total: 5 tables, 5 units, 5 tables


def test_the_backfill_bar_names_its_phase_once(store, tmp_path):
    args = ["backfill", "--source", str(store.source), "--shadow", str(tmp_path / "new.db")]
    text = on_a_terminal(args, tmp_path)
    assert "backfill: " in text and "/5 [" in text  # the total, with an ETA beside it
    assert "backfill: backfill" not in text
