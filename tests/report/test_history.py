"""History deltas, what a run records about the stores it audited (and older history files
brought forward), and scheduled-run behaviour (lock, per-run folders, latest copy, --keep)."""

from __future__ import annotations

import dataclasses
import sqlite3
from datetime import UTC, datetime, timedelta

from filelock import FileLock

from shadow_audit.engine.findings import AuditResult, Coverage, Finding
from shadow_audit.report.history import History
from shadow_audit.stores.sqlite_shadow import shadow_identity
from tests.conftest import run_cli, run_main

T0 = datetime(2026, 3, 1, 2, 0, tzinfo=UTC)


def stamp(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


def result_at(
    moment: datetime, findings: tuple[Finding, ...] = (), coverage: Coverage | None = None
) -> AuditResult:
    return AuditResult(
        source="s", shadow="d", started_at=stamp(moment), finished_at=stamp(moment + timedelta(seconds=30)),
        summary={}, findings=findings, coverage=coverage or Coverage(), documents=3,
    )  # fmt: skip


def owner_drift(key: str) -> Finding:
    return Finding(
        "value_mismatch", "missions", key, "owner", "metadata.owner", "manifest", "a", "b"
    )


def test_delta_new_persisting_resolved_with_first_seen(tmp_path):
    book = History(tmp_path / "h.db")
    _, d1 = book.record(result_at(T0, (owner_drift("p1"), owner_drift("p2"))))
    assert d1.previous_run is None and len(d1.new) == 2
    _, d2 = book.record(result_at(T0 + timedelta(hours=1), (owner_drift("p2"), owner_drift("p3"))))
    assert [i[0][2] for i in d2.new] == ["p3"]
    assert [(i[0][2], i[1]) for i in d2.persisting] == [("p2", stamp(T0 + timedelta(seconds=30)))]
    assert [i[0][2] for i in d2.resolved] == ["p1"]
    runs = book.runs()
    assert [r.id for r in runs] == [2, 1]
    assert runs[0].counts == {"value_mismatch": 2}


def test_scheduled_runs_history_latest_keep_and_lock(store, tmp_path):
    out, hist = tmp_path / "reports", tmp_path / "history.db"
    base = [
        "audit",
        "--source",
        str(store.source),
        "--shadow",
        str(store.db),
        "--out",
        str(out),
        "--history",
        str(hist),
        "--format",
        "md,html,prom",
        "--settle",
        "0",  # no writer runs: the RED run need not wait out mid-save writers
    ]
    for _ in range(3):
        assert run_main(*base, "--keep", "2").returncode == 0
    runs = sorted((out / "runs").iterdir())
    assert len(runs) == 2 and runs[-1].name.endswith("-run3")
    assert (runs[-1] / "report.html").read_text() == (out / "report.html").read_text()
    listing = run_main("history", "--history", str(hist))
    assert [line.split()[0] for line in listing.stdout.splitlines()[1:]] == ["3", "2", "1"]
    store.sql("UPDATE missions SET owner = 'x' WHERE id = 1")
    red = run_main(*base)
    assert red.returncode == 1 and "since run 3: 1 new, 0 persisting, 0 resolved" in red.stdout
    with FileLock(str(out / ".shadow-audit.lock")):
        skipped = run_cli(*base)
    assert skipped.returncode == 0
    assert (
        "another audit is writing to" in skipped.stderr and "this run is skipped" in skipped.stderr
    )
    assert len(History(hist).runs()) == 4


def test_result_timestamps_are_what_history_keeps(tmp_path):
    book = History(tmp_path / "h.db")
    r = dataclasses.replace(result_at(T0), finished_at="2026-03-01T02:00:30.123456Z")
    book.record(r)
    assert book.runs()[0].finished_at == "2026-03-01T02:00:30.123456Z"


def test_a_run_records_the_resolved_paths_and_the_shadow_identity(store, tmp_path, monkeypatch):
    book = History(tmp_path / "h.db")
    monkeypatch.chdir(store.root)
    book.record(dataclasses.replace(result_at(T0), source="workspaces", shadow="shadow.db"))
    (run,) = book.runs()
    assert run.source_path == str(store.source.resolve())
    assert run.shadow_path == str(store.db.resolve())
    assert run.shadow_id == shadow_identity(store.db) and run.shadow_id.startswith("uuid:")


OLD_SCHEMA = """
CREATE TABLE runs (
    id INTEGER PRIMARY KEY AUTOINCREMENT, started_at TEXT NOT NULL, finished_at TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('GREEN', 'RED')), source TEXT NOT NULL,
    shadow TEXT NOT NULL, documents INTEGER NOT NULL, findings INTEGER NOT NULL,
    ignored INTEGER NOT NULL, coverage_complete INTEGER NOT NULL, lost_paths TEXT NOT NULL,
    parity REAL NOT NULL, report_dir TEXT
);
INSERT INTO runs VALUES (1, '2026-03-01T02:00:00Z', '2026-03-01T02:00:30Z', 'GREEN', 's', 'd',
    3, 0, 0, 1, '', 1.0, NULL);
"""


def test_a_history_file_of_the_previous_version_is_brought_forward(tmp_path):
    path = tmp_path / "old.db"
    with sqlite3.connect(path) as conn:
        conn.executescript(OLD_SCHEMA)
    book = History(path)
    (old,) = book.runs()
    assert (old.id, old.status, old.shadow_id, old.shadow_path) == (1, "GREEN", "", "")
    run_id, delta = book.record(result_at(T0 + timedelta(days=1)))
    assert run_id == 2 and delta.previous_run == 1
    assert [r.id for r in book.runs()] == [2, 1]
