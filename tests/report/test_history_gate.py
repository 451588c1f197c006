"""History deltas, the gate's verdict on histories with explicit timestamps, and scheduled-run
behaviour (lock, per-run folders, latest copy, --keep)."""

from __future__ import annotations

import dataclasses
import json
from datetime import UTC, datetime, timedelta

import pytest
from filelock import FileLock

from shadow_audit.engine.findings import AuditResult, Coverage, Finding
from shadow_audit.gate import GatePolicy, decide
from shadow_audit.ledger import LedgerEntry
from shadow_audit.report.history import History
from tests.conftest import run_cli

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


def history_of(
    tmp_path, days: int, *, red_on: set[int] = frozenset(), every_hours: int = 24
) -> History:
    book = History(tmp_path / "history.db")
    for i in range(days * 24 // every_hours + 1):
        at = T0 + timedelta(hours=i * every_hours)
        book.record(result_at(at, (owner_drift("p1"),) if i in red_on else ()))
    return book


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


def test_gate_ready_after_seven_green_days(tmp_path):
    runs = history_of(tmp_path, 7).runs()
    decision = decide(runs, policy=GatePolicy(), now=T0 + timedelta(days=8))
    assert decision.verdict == "READY", [r.message for r in decision.reasons if not r.passed]
    streak = next(r for r in decision.reasons if r.check == "green_streak")
    assert streak.evidence["green_runs"] == list(range(1, 9))


def test_gate_not_ready_when_history_too_short(tmp_path):
    decision = decide(history_of(tmp_path, 3).runs(), policy=GatePolicy())
    failed = {r.check for r in decision.reasons if not r.passed}
    assert failed == {"green_streak", "baking_period"}


def test_gate_counts_only_the_streak_after_the_last_red_run(tmp_path):
    runs = history_of(tmp_path, 10, red_on={4}).runs()
    decision = decide(runs, policy=GatePolicy())
    streak = next(r for r in decision.reasons if r.check == "green_streak")
    assert streak.evidence["broken_by"] == 5
    assert streak.evidence["green_runs"] == list(range(6, 12))
    assert not decision.ready


def test_many_runs_in_a_short_span_are_not_a_baking_period(tmp_path):
    runs = history_of(tmp_path, 2, every_hours=1).runs()  # 49 GREEN runs over 2 days
    decision = decide(runs, policy=GatePolicy())
    assert [r.check for r in decision.reasons if not r.passed] == ["baking_period"]


def test_gate_fails_on_ledger_failures_inside_the_window_only(tmp_path):
    runs = history_of(tmp_path, 7).runs()
    old = LedgerEntry(stamp(T0 - timedelta(days=1)), "p1", "h", "OperationalError", "locked")
    recent = LedgerEntry(stamp(T0 + timedelta(days=2)), "p2", "h", "IntegrityError", "CHECK")
    assert decide(runs, policy=GatePolicy(), ledger=(old,)).ready
    decision = decide(runs, policy=GatePolicy(), ledger=(old, recent))
    reason = next(r for r in decision.reasons if r.check == "shadow_write_failures")
    assert not reason.passed and reason.evidence["count"] == 1
    assert reason.evidence["failures"][0]["key"] == "p2"


def test_gate_fails_on_coverage_and_ignore_rules_unless_policy_allows(tmp_path):
    book = History(tmp_path / "h.db")
    lost = Coverage(
        missing_columns=({"entity": "missions", "column": "name", "path": "metadata.name"},)
    )
    for i in range(8):
        book.record(result_at(T0 + timedelta(days=i), coverage=lost))
    runs = book.runs()
    decision = decide(runs, policy=GatePolicy(), active_rules=1)
    assert {r.check for r in decision.reasons if not r.passed} == {"coverage", "ignore_rules"}
    lenient = GatePolicy(require_complete_coverage=False, allow_ignore_rules=True)
    assert decide(runs, policy=lenient, active_rules=1).ready


def test_gate_policy_from_config_rejects_nonsense():
    from shadow_audit.errors import ConfigError

    assert GatePolicy.from_config({"min_green_runs": 3, "min_days": 2.5}).min_days == 2.5
    with pytest.raises(ConfigError, match="unknown keys"):
        GatePolicy.from_config({"min_green": 3})
    with pytest.raises(ConfigError, match="not a number"):
        GatePolicy.from_config({"min_days": -1})


def test_gate_cli_writes_decision_and_exit_codes(tmp_path):
    history_of(tmp_path, 7)
    out = tmp_path / "out"
    args = [
        "gate",
        "--history",
        str(tmp_path / "history.db"),
        "--ledger",
        str(tmp_path / "none.jsonl"),
        "--out",
        str(out),
    ]
    ready = run_cli(*args)
    assert ready.returncode == 0, ready.stdout + ready.stderr
    assert ready.stdout.startswith("READY")
    assert json.loads((out / "gate.json").read_text())["verdict"] == "READY"
    config = tmp_path / "strict.toml"
    config.write_text("[gate]\nmin_green_runs = 30\n")
    strict = run_cli(*args, "--config", str(config))
    assert strict.returncode == 1
    assert "FAIL  green_streak: 8 consecutive GREEN runs (needed 30)" in strict.stdout
    assert "# ⛔ cutover gate: NOT READY" in (out / "gate.md").read_text()
    empty = run_cli(
        "gate",
        "--history",
        str(tmp_path / "nothing.db"),
        "--ledger",
        str(tmp_path / "x"),
        "--out",
        str(out),
    )
    assert empty.returncode == 1 and "no audit is recorded yet" in empty.stdout


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
    ]
    for _ in range(3):
        assert run_cli(*base, "--keep", "2").returncode == 0
    runs = sorted((out / "runs").iterdir())
    assert len(runs) == 2 and runs[-1].name.endswith("-run3")
    assert (runs[-1] / "report.html").read_text() == (out / "report.html").read_text()
    listing = run_cli("history", "--history", str(hist))
    assert [line.split()[0] for line in listing.stdout.splitlines()[1:]] == ["3", "2", "1"]
    store.sql("UPDATE missions SET owner = 'x' WHERE id = 1")
    red = run_cli(*base)
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
