"""The cutover gate: the verdict on histories with explicit timestamps, and the rule that
only recent runs of the very shadow and source judged count (by path and identity)."""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import stat
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from shadow_audit.config import Config
from shadow_audit.engine.findings import AuditResult, Coverage, Finding
from shadow_audit.errors import DatabaseError
from shadow_audit.gate import GatePolicy, decide, judge, run_gate
from shadow_audit.ledger import LedgerEntry
from shadow_audit.profiles import REFERENCE_V2_DDL
from shadow_audit.report.history import History
from shadow_audit.stores.sqlite_shadow import SqliteShadow, shadow_identity
from tests.conftest import audit_main, make_store, run_cli

T0 = datetime(2026, 3, 1, 2, 0, tzinfo=UTC)


def fresh_after(days: int) -> datetime:
    """An hour after the last run of ``history_of(days)``: the history is fresh."""
    return T0 + timedelta(days=days, hours=1)


def stamp(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


def result_at(
    moment: datetime,
    findings: tuple[Finding, ...] = (),
    coverage: Coverage | None = None,
    *,
    source: Path | str = "s",
    shadow: Path | str = "d",
) -> AuditResult:
    return AuditResult(
        source=str(source), shadow=str(shadow), started_at=stamp(moment),
        finished_at=stamp(moment + timedelta(seconds=30)), summary={}, findings=findings,
        coverage=coverage or Coverage(), documents=3,
    )  # fmt: skip


def owner_drift(key: str) -> Finding:
    return Finding(
        "value_mismatch", "missions", key, "owner", "metadata.owner", "manifest", "a", "b"
    )


def history_of(
    tmp_path: Path,
    days: int,
    *,
    red_on: set[int] = frozenset(),
    every_hours: int = 24,
    source: Path | str = "s",
    shadow: Path | str = "d",
) -> History:
    book = History(tmp_path / "history.db")
    for i in range(days * 24 // every_hours + 1):
        at = T0 + timedelta(hours=i * every_hours)
        findings = (owner_drift("p1"),) if i in red_on else ()
        book.record(result_at(at, findings, source=source, shadow=shadow))
    return book


def stores(tmp_path: Path, name: str = "shadow.db") -> tuple[Path, Path]:
    """A source folder and an (empty) shadow database with its identity."""
    source, db = tmp_path / "src", tmp_path / name
    source.mkdir(exist_ok=True)
    SqliteShadow(db)
    return source, db


def test_gate_ready_after_seven_green_days(tmp_path):
    runs = history_of(tmp_path, 7).runs()
    decision = decide(runs, policy=GatePolicy(), now=T0 + timedelta(days=8))
    assert decision.verdict == "READY", [r.message for r in decision.reasons if not r.passed]
    streak = next(r for r in decision.reasons if r.check == "green_streak")
    assert streak.evidence["green_runs"] == list(range(1, 9))


def test_gate_not_ready_when_history_too_short(tmp_path):
    decision = decide(history_of(tmp_path, 3).runs(), policy=GatePolicy(), now=fresh_after(3))
    failed = {r.check for r in decision.reasons if not r.passed}
    assert failed == {"green_streak", "baking_period"}


def test_gate_counts_only_the_streak_after_the_last_red_run(tmp_path):
    runs = history_of(tmp_path, 10, red_on={4}).runs()
    decision = decide(runs, policy=GatePolicy(), now=fresh_after(10))
    streak = next(r for r in decision.reasons if r.check == "green_streak")
    assert streak.evidence["broken_by"] == 5
    assert streak.evidence["green_runs"] == list(range(6, 12))
    assert not decision.ready


def test_many_runs_in_a_short_span_are_not_a_baking_period(tmp_path):
    runs = history_of(tmp_path, 2, every_hours=1).runs()  # 49 GREEN runs over 2 days
    decision = decide(runs, policy=GatePolicy(), now=fresh_after(2))
    assert [r.check for r in decision.reasons if not r.passed] == ["baking_period"]


def test_gate_fails_on_ledger_failures_inside_the_window_only(tmp_path):
    runs = history_of(tmp_path, 7).runs()
    old = LedgerEntry(stamp(T0 - timedelta(days=1)), "p1", "h", "OperationalError", "locked")
    recent = LedgerEntry(stamp(T0 + timedelta(days=2)), "p2", "h", "IntegrityError", "CHECK")
    assert decide(runs, policy=GatePolicy(), ledger=(old,), now=fresh_after(7)).ready
    decision = decide(runs, policy=GatePolicy(), ledger=(old, recent), now=fresh_after(7))
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
    decision = decide(runs, policy=GatePolicy(), active_rules=1, now=fresh_after(7))
    assert {r.check for r in decision.reasons if not r.passed} == {"coverage", "ignore_rules"}
    lenient = GatePolicy(require_complete_coverage=False, allow_ignore_rules=True)
    assert decide(runs, policy=lenient, active_rules=1, now=fresh_after(7)).ready


def test_gate_policy_from_config_rejects_nonsense():
    from shadow_audit.errors import ConfigError

    assert GatePolicy.from_config({"min_green_runs": 3, "min_days": 2.5}).min_days == 2.5
    with pytest.raises(ConfigError, match="unknown keys"):
        GatePolicy.from_config({"min_green": 3})
    with pytest.raises(ConfigError, match="not a number"):
        GatePolicy.from_config({"min_days": -1})


def test_gate_counts_only_runs_of_the_shadow_it_judges(tmp_path):
    """The red-team reproduction: prod RED once, a clean stage three times, same history."""
    prod, stage = make_store(tmp_path / "prod"), make_store(tmp_path / "stage", seed=2)
    prod.sql("UPDATE missions SET owner = 'mallory' WHERE mission_uuid = 'proj-000000'")
    history, out = tmp_path / "history.db", tmp_path / "out"
    assert audit_main(prod.source, prod.db, out, "--history", str(history)).returncode == 1
    for _ in range(3):
        assert audit_main(stage.source, stage.db, out, "--history", str(history)).returncode == 0
    config = tmp_path / "lenient.toml"
    config.write_text("[gate]\nmin_green_runs = 3\nmin_days = 0\n")
    common = ["gate", "--history", str(history), "--config", str(config), "--out", str(out)]
    verdict = run_cli(*common, "--shadow", str(prod.db))
    assert verdict.returncode == 1, verdict.stdout + verdict.stderr
    assert verdict.stdout.startswith("NOT READY")
    assert f"shadow: {prod.db.resolve()} (uuid:" in verdict.stdout
    assert f"source: {prod.source.resolve()}" in verdict.stdout
    assert "FAIL  findings: latest run 1 has 1 finding (allowed 0)" in verdict.stdout
    assert "3 of 4 runs in" in verdict.stderr
    assert json.loads((out / "gate.json").read_text())["subject"]["shadow"] == str(
        prod.db.resolve()
    )
    ready = run_cli(*common, "--shadow", str(stage.db))
    assert ready.returncode == 0, ready.stdout + ready.stderr
    other_source = run_cli(*common, "--shadow", str(stage.db), "--source", str(prod.source))
    assert other_source.returncode == 1
    assert "no audit of this shadow is recorded yet" in other_source.stdout


def test_another_database_at_the_same_path_inherits_no_runs(tmp_path):
    source, db = stores(tmp_path)
    history_of(tmp_path, 7, source=source, shadow=db)
    assert judge(shadow=db, history=tmp_path / "history.db", now=fresh_after(7)).ready
    db.unlink()
    SqliteShadow(db)  # a new database, same name
    decision = judge(shadow=db, history=tmp_path / "history.db", now=fresh_after(7))
    assert not decision.ready
    assert [r.check for r in decision.reasons] == ["history"]
    assert decision.notes == (
        f"8 of 8 runs in {tmp_path / 'history.db'} audited another shadow or source "
        "(or predate identities) and are not counted",
    )


def test_the_identity_survives_a_rename_and_a_copy_does_not_share_a_reference_v2_one(tmp_path):
    _, db = stores(tmp_path)
    identity = shadow_identity(db)
    moved = tmp_path / "renamed.db"
    db.rename(moved)
    assert shadow_identity(moved) == identity
    v2 = tmp_path / "v2.db"
    with sqlite3.connect(v2) as conn:
        conn.executescript(REFERENCE_V2_DDL)
    v2_identity = shadow_identity(v2)
    assert v2_identity.startswith("file:")
    copy = tmp_path / "copy.db"
    shutil.copy(v2, copy)
    assert shadow_identity(copy) != v2_identity
    v2.rename(tmp_path / "v2-renamed.db")
    assert shadow_identity(tmp_path / "v2-renamed.db") == v2_identity


def test_a_reference_v2_database_is_judged_without_being_changed(tmp_path):
    store = make_store(tmp_path, 2, reference_v2=True)
    before = store.db.read_bytes()
    history = tmp_path / "h.db"
    for i in range(3):
        at = datetime.now(UTC) - timedelta(hours=3 - i)
        History(history).record(
            result_at(at, coverage=Coverage(), source=store.source, shadow=store.db)
        )
    policy = Config(gate={"min_green_runs": 3, "min_days": 0})
    decision = judge(shadow=store.db, history=history, config=policy)
    assert decision.ready, [r.message for r in decision.reasons if not r.passed]
    assert decision.subject.shadow_id.startswith("file:")
    assert store.db.read_bytes() == before


def test_a_stale_history_is_not_ready(tmp_path):
    source, db = stores(tmp_path)
    history_of(tmp_path, 7, source=source, shadow=db)
    last = T0 + timedelta(days=7, seconds=30)
    stale = judge(shadow=db, history=tmp_path / "history.db", now=last + timedelta(hours=25))
    assert [r.check for r in stale.reasons if not r.passed] == ["fresh"]
    assert "finished 25.0 hours ago (allowed 24)" in next(
        r.message for r in stale.reasons if r.check == "fresh"
    )
    patient = Config(gate={"max_age_hours": 48})
    assert judge(
        shadow=db, history=tmp_path / "history.db", config=patient, now=last + timedelta(hours=25)
    ).ready


def test_runs_of_an_older_history_match_no_shadow(tmp_path):
    source, db = stores(tmp_path)
    book = history_of(tmp_path, 7, source=source, shadow=db)
    with sqlite3.connect(book.path) as conn:
        conn.execute("UPDATE runs SET shadow_id = ''")  # as brought forward from the old schema
    assert not judge(shadow=db, history=book.path, now=fresh_after(7)).ready


def test_gate_cli_writes_decision_and_exit_codes(tmp_path):
    source, db = stores(tmp_path)
    history_of(tmp_path, 7, source=source, shadow=db)
    out = tmp_path / "out"
    args = [
        "gate",
        "--history",
        str(tmp_path / "history.db"),
        "--shadow",
        str(db),
        "--ledger",
        str(tmp_path / "none.jsonl"),
        "--out",
        str(out),
        "--now",
        fresh_after(7).isoformat(),
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
    gate_md = (out / "gate.md").read_text()
    assert "# ⛔ cutover gate: NOT READY" in gate_md
    assert f"- shadow: `{db.resolve()}`" in gate_md
    empty = run_cli(
        "gate", "--shadow", str(db), "--ledger", str(tmp_path / "x"), "--out", str(out),
    )  # fmt: skip
    assert empty.returncode == 1 and "no audit of this shadow is recorded yet" in empty.stdout


@pytest.mark.parametrize(
    ("flag", "value", "message"),
    [
        ("--shadow", "nosuch.db", "database nosuch.db: no such file"),
        ("--history", "nosuch.db", "history nosuch.db: no such file"),
        ("--source", "nosuch", "source folder nosuch: no such folder"),
        ("--now", "yesterday", "argument --now: 'yesterday' is not an ISO date-time"),
    ],
)
def test_gate_rejects_a_missing_file_or_a_bad_time_given_explicitly(tmp_path, flag, value, message):
    source, db = stores(tmp_path)
    history_of(tmp_path, 7, source=source, shadow=db)
    args = {"--shadow": str(db), "--history": str(tmp_path / "history.db"), flag: value}
    run = run_cli("gate", *[x for kv in args.items() for x in kv], "--out", str(tmp_path / "o"))
    assert run.returncode == 2, run.stdout + run.stderr
    assert message in run.stderr
    assert "Traceback" not in run.stderr
    assert not (tmp_path / "o" / "gate.json").exists()


def test_gate_files_are_no_wider_than_the_source_folder(tmp_path):
    source, db = stores(tmp_path)
    history_of(tmp_path, 7, source=source, shadow=db)
    os.chmod(source, 0o700)
    _, files = run_gate(shadow=db, history=tmp_path / "history.db", out=tmp_path / "out")
    for path in files:
        assert stat.S_IMODE(path.stat().st_mode) & 0o077 == 0, path


def test_judge_needs_the_shadow_it_judges(tmp_path):
    with pytest.raises(DatabaseError, match="no such file"):
        judge(shadow=tmp_path / "nosuch.db")


def test_a_gate_with_no_runs_names_the_history_it_read(tmp_path, monkeypatch):
    """Audits write the default history where they run; a gate run elsewhere must say which
    file it read instead of only 'no audit recorded'."""
    db = tmp_path / "s.db"
    SqliteShadow(db)
    monkeypatch.chdir(tmp_path)
    decision = judge(shadow=db)
    assert not decision.ready
    assert any("history reports/history.db does not exist" in n for n in decision.notes)
    result = run_cli("gate", "--shadow", str(db), "--out", str(tmp_path / "g"))
    assert result.returncode == 1
    assert "history reports/history.db does not exist" in result.stdout + result.stderr
