"""The re-check: a save between the audit's two reads is no finding; real drift still is.

Writes land at exact moments of the audit through its own observable events: the
``progress`` callback (after each unit of the pass) and the re-check's log records
(before a lock is taken, after the locked read, at each settle round). Real writers,
real files, a real database; nothing is mocked and no test sleeps.
"""

from __future__ import annotations

import contextlib
import copy
import json
import logging
import sqlite3
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from shadow_audit.config import load_config
from shadow_audit.engine.recheck import ROUNDS
from shadow_audit.engine.run import audit
from shadow_audit.errors import ConfigError, UsageError
from shadow_audit.gate import GatePolicy, decide
from shadow_audit.report import FORMATS, ReportContext, render
from shadow_audit.report.history import History
from tests.conftest import Store, audit_cli, make_store, read_only_file

SCHEMA = Path(__file__).resolve().parents[2] / "schemas" / "audit_report.schema.json"
LAST = "proj-000004"  # the unit the pass reads last


def newer(store: Store, i: int, n: int = 1) -> tuple[dict[str, Any], dict[str, Any]]:
    """Project ``i`` as the application saves it next: a new summary, focus and concept."""
    manifest, memory = copy.deepcopy(store.projects[i])
    manifest["status"]["message"] = f"saved again ({n})"
    memory["narrative"].append(dict(memory["narrative"][-1], summary=f"session again ({n})"))
    memory["narrative"][-1]["session"] = len(memory["narrative"])
    memory["trajectory"]["current_focus"] = f"focus {n}"
    memory["domain"]["concepts"].append(f"concept-{n}")
    return manifest, memory


def write_json(store: Store, docs: tuple[dict[str, Any], dict[str, Any]]) -> None:
    """The JSON half of a save, as a writer that skips the lock does it."""
    pid = docs[0]["metadata"]["projectId"]
    store.writer.store.write(store.manifest_path(pid), docs[0])
    store.writer.store.write(store.memory_path(pid), docs[1])


def write_shadow(store: Store, docs: tuple[dict[str, Any], dict[str, Any]]) -> None:
    """The SQLite half of a save (the shadow's own upsert, without the lock)."""
    pid = docs[0]["metadata"]["projectId"]
    with store.writer.shadow.transaction() as conn:
        store.writer.shadow.write(conn, pid, {"manifest": docs[0], "memory": docs[1]})


def after_unit(n: int, action: Callable[[], None]) -> Callable[[int], None]:
    """A progress callback that runs ``action`` once, after the pass read ``n`` units."""
    seen = [0]

    def tick(k: int) -> None:
        seen[0] += k
        if seen[0] == n:
            action()

    return tick


@contextlib.contextmanager
def on_log(prefix: str, action: Callable[[logging.LogRecord], None]) -> Iterator[None]:
    """Run ``action`` in the auditor's thread whenever the re-check logs ``prefix``..."""

    class Hook(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            if record.getMessage().startswith(prefix):
                action(record)

    logger = logging.getLogger("shadow_audit.engine.recheck")
    hook, level = Hook(), logger.level
    logger.addHandler(hook)
    logger.setLevel(logging.DEBUG)
    try:
        yield
    finally:
        logger.removeHandler(hook)
        logger.setLevel(level)


def identities(result: Any) -> set[tuple[str, str, str, str]]:
    return {f.identity for f in result.findings}


# --- our writer: the locked read --------------------------------------------------


def test_a_save_between_the_two_reads_is_no_finding(store):
    """The pass read the database before the save and the JSON after: without the
    re-check that is a false RED; on the locked view it is nothing."""
    save = lambda n: lambda: store.writer.save_project(*newer(store, 4, n))  # noqa: E731
    before = audit(store.source, store.db, recheck=False, progress=after_unit(1, save(1)))
    assert before.status == "RED"  # the bug of issue 13
    assert {f.key.split("/")[0] for f in before.findings} == {LAST}

    after = audit(store.source, store.db, progress=after_unit(1, save(2)))
    assert after.status == "GREEN", [f.to_dict() for f in after.findings]
    assert after.findings == ()
    checked = after.recheck
    assert checked is not None
    assert (checked.units, checked.consistent, checked.drift_units) == (1, 1, 0)
    assert checked.transient.get("value_mismatch", 0) >= 1
    assert checked.transient.get("missing_in_shadow", 0) >= 1  # the new narrative row, concept
    assert checked.rounds == 0  # nothing left to settle: no wait at all
    summary = after.summary
    assert all(
        s.missing_in_shadow == s.extra_in_shadow == s.mismatched == 0 for s in summary.values()
    )


def test_real_drift_is_found_while_saves_are_in_flight(store):
    """Drift in three units, saves in flight in another: exactly the drift is reported."""
    p1, p2, p3 = (store.projects[i][0]["metadata"]["projectId"] for i in (1, 2, 3))
    store.sql(
        "UPDATE missions SET current_cost_usd = current_cost_usd + 1 WHERE mission_uuid = ?", p1
    )
    store.sql(
        "DELETE FROM domain_concepts WHERE id = (SELECT min(c.id) FROM domain_concepts c "
        "JOIN missions m ON m.id = c.mission_id WHERE m.mission_uuid = ?)",
        p2,
    )
    memory = json.loads(store.memory_path(p3).read_text())
    memory["trajectory"]["current_focus"] = "edited out of band"
    store.memory_path(p3).write_text(json.dumps(memory))
    quiet = audit(store.source, store.db, recheck=False)
    expected = identities(quiet)
    assert {k for _, _, k, _ in expected} >= {p1, p3} and len(expected) == 3

    save = lambda: store.writer.save_project(*newer(store, 4))  # noqa: E731
    result = audit(store.source, store.db, settle=0.2, progress=after_unit(1, save))
    assert identities(result) == expected
    assert result.recheck is not None
    assert result.recheck.drift_units == 3 and result.recheck.unstable_units == 0
    assert result.recheck.units == 4 and result.recheck.consistent == 1
    assert result.summary["missions"].mismatched == 1
    assert result.summary["domain_concepts"].missing_in_shadow == 1
    assert result.summary["trajectory"].mismatched == 1


def test_the_recheck_waits_for_the_writers_lock(store):
    """A save holding the unit's lock, JSON written, shadow not yet: the re-check reads
    the unit only when the save is complete, so it sees both halves."""
    docs = newer(store, 4)
    json_written, go, done = threading.Event(), threading.Event(), threading.Event()

    def saving() -> None:
        with store.writer.store.lock(LAST):
            write_json(store, docs)
            json_written.set()
            assert go.wait(30)
            write_shadow(store, docs)
        done.set()

    def start() -> None:
        threading.Thread(target=saving, daemon=True).start()
        assert json_written.wait(30)

    with on_log("re-check: taking the lock", lambda r: go.set()):
        result = audit(store.source, store.db, progress=after_unit(1, start))
    assert done.wait(30)
    assert result.status == "GREEN", [f.to_dict() for f in result.findings]
    assert result.recheck is not None and result.recheck.consistent == 1


def test_no_lock_is_held_while_the_audit_settles(store):
    """During the settle wait the application saves the unit under re-check, with a
    lock timeout far shorter than the wait: the lock is free."""
    store.sql("UPDATE missions SET owner = 'someone else' WHERE mission_uuid = ?", LAST)
    saved = []

    def save(record: logging.LogRecord) -> None:
        if not saved:
            store.writer.lock_timeout = 0.05
            saved.append(store.writer.save_project(*newer(store, 4)))

    with on_log("re-check round", save):
        result = audit(store.source, store.db, settle=0.3)
    assert saved and saved[0].shadow_ok
    assert result.status == "GREEN"  # the save repaired the row: the difference did not hold
    assert result.recheck is not None and result.recheck.transient == {"value_mismatch": 1}


# --- writers that skip the lock: settle ---------------------------------------------


def test_a_foreign_save_in_flight_settles_as_transient(store):
    """JSON written during the pass, SQLite only after the locked read (a writer without
    the lock): still differing on the locked view, equal at a re-read."""
    docs = newer(store, 4)
    landed = []

    def land(record: logging.LogRecord) -> None:
        if not landed:
            write_shadow(store, docs)
            landed.append(True)

    with on_log("re-check: 1 of 1 units differ", land):
        lock_only = audit(
            store.source, store.db, progress=after_unit(1, lambda: write_json(store, docs))
        )
    assert lock_only.status == "RED"  # settle 0: what differs on the locked read is reported

    docs = newer(store, 4, 2)
    landed.clear()
    with on_log("re-check: 1 of 1 units differ", land):
        result = audit(
            store.source,
            store.db,
            settle=0.5,
            progress=after_unit(1, lambda: write_json(store, docs)),
        )
    assert landed
    assert result.status == "GREEN", [f.to_dict() for f in result.findings]
    checked = result.recheck
    assert checked is not None
    assert (checked.units, checked.consistent, checked.drift_units, checked.unstable_units) == (
        1,
        0,
        0,
        0,
    )
    assert checked.rounds == 1  # resolved at the first re-read: no further wait
    assert checked.transient.get("missing_in_shadow", 0) >= 1


def test_a_unit_that_keeps_changing_is_unstable_not_drift(store):
    """A writer rewrites the JSON at every re-read and never the shadow: neither agreement
    nor a difference that holds. One ``unstable`` finding names the unit; no drift."""
    versions = iter(range(1, 100))

    def rewrite(record: logging.LogRecord | None = None) -> None:
        write_json(store, newer(store, 4, next(versions)))

    with on_log("re-check round", rewrite):
        result = audit(store.source, store.db, settle=0.3, progress=after_unit(1, rewrite))
    assert [(f.kind, f.entity, f.key) for f in result.findings] == [("unstable", "missions", LAST)]
    assert result.status == "GREEN"  # not drift; the gate bounds it
    assert result.counts()["unstable"] == 1 and result.counts()["value_mismatch"] == 0
    unstable = result.findings[0]
    assert unstable.detail["reads"] == 1 + len(ROUNDS)
    assert unstable.detail["documents_changed"] == len(ROUNDS)
    assert any(d.startswith("value_mismatch:") for d in unstable.detail["last_difference"])
    checked = result.recheck
    assert checked is not None and checked.unstable_units == 1 and checked.drift_units == 0
    assert checked.transient == {}  # never counted as resolved either
    assert result.summary["trajectory"].mismatched == 1  # its rows are not counted as matched
    for fmt in FORMATS:  # every report names the unit (Prometheus counts it)
        shown = render(result, fmt, ReportContext())
        assert ('kind="unstable",entity="missions"} 1' if fmt == "prom" else LAST) in shown, fmt


def test_drift_holds_on_reads_settle_apart_and_the_wait_is_once_per_run(store):
    """Every unit drifted: all are re-read together in the same few rounds, and the
    difference is reported once it held over ``settle`` with the documents unchanged."""
    store.sql("UPDATE missions SET description = 'changed in SQLite'")
    settle = 0.3
    result = audit(store.source, store.db, settle=settle)
    assert {(f.kind, f.field) for f in result.findings} == {("value_mismatch", "description")}
    assert len(result.findings) == 5
    checked = result.recheck
    assert checked is not None
    assert (checked.units, checked.drift_units, checked.unstable_units) == (5, 5, 0)
    assert checked.rounds == len(ROUNDS)  # not 5 units x rounds: one wait for the run
    assert checked.waited_seconds >= settle  # reads at least ``settle`` apart (monotonic)


def test_a_torn_json_read_during_the_pass_is_transient(store):
    """The reference's writer truncates then writes (open 'w'): the pass read an empty
    file; the re-check reads the finished one."""
    path = store.manifest_path(LAST)
    whole = path.read_bytes()

    def both(k: int) -> None:  # torn after the first unit, finished after the last
        tear(k)
        finish(k)

    tear = after_unit(1, lambda: path.write_bytes(whole[: len(whole) // 2]))
    finish = after_unit(5, lambda: path.write_bytes(whole))
    before = audit(store.source, store.db, workers=1, recheck=False, progress=both)
    assert [f.kind for f in before.findings] == ["invalid_source"]
    path.write_bytes(whole)
    tear = after_unit(1, lambda: path.write_bytes(whole[: len(whole) // 2]))
    finish = after_unit(5, lambda: path.write_bytes(whole))
    result = audit(store.source, store.db, workers=1, progress=both)
    assert result.status == "GREEN", [f.to_dict() for f in result.findings]
    assert result.recheck is not None and result.recheck.transient == {"invalid_source": 1}


# --- what the re-check leaves alone, what it never does -----------------------------


def test_orphan_rows_and_slashed_keys_are_still_reported(store):
    """A child row without a parent has no unit to re-read: kept as found. A child key
    holding '/' ('CI/CD') is re-checked under its real document key."""
    conn = sqlite3.connect(store.db)
    conn.execute("PRAGMA foreign_keys = OFF")
    conn.execute(
        "INSERT INTO domain_concepts (mission_id, concept, timestamp) VALUES (999, 'x', 't')"
    )
    conn.execute(
        "INSERT INTO domain_concepts (mission_id, concept, timestamp) "
        "SELECT id, 'CI/CD', 't' FROM missions WHERE mission_uuid = 'proj-000002'"
    )
    conn.execute(
        "INSERT INTO missions (mission_uuid, phase, status, created_at) "
        "VALUES ('team/proj', 'CODING', 'in_progress', '2025-01-01T00:00:00Z')"
    )
    conn.commit()
    conn.close()
    quiet = audit(store.source, store.db, recheck=False)
    result = audit(store.source, store.db, settle=0.1)
    assert identities(result) == identities(quiet)
    assert {f.key for f in result.findings} == {"<orphan 999>/x", "proj-000002/CI/CD", "team/proj"}
    assert result.recheck is not None and result.recheck.units == 2


def test_law_on_a_quiet_store_the_recheck_reports_what_the_pass_reports(store):
    """Nothing writes: the re-check's findings are the pass's, field for field, over every
    kind it re-checks (invalid and duplicate-keyed documents, missing, extra, changed)."""
    store.sql(
        "UPDATE missions SET current_cost_usd = 1.5, owner = 'x' WHERE mission_uuid = ?", LAST
    )
    store.sql("DELETE FROM session_narrative WHERE session_num = 2")
    store.sql(
        "INSERT INTO domain_concerns (mission_id, concern, timestamp) "
        "SELECT id, 'stale', 't' FROM missions WHERE mission_uuid = 'proj-000001'"
    )
    memory = json.loads(store.memory_path("proj-000002").read_text())
    memory["narrative"].append(dict(memory["narrative"][0]))  # a session number repeated
    store.memory_path("proj-000002").write_text(json.dumps(memory))
    store.manifest_path("proj-000003").write_text('{"apiVersion": ')  # torn for good
    pass_only = audit(store.source, store.db, recheck=False)
    rechecked = audit(store.source, store.db, settle=0.05)
    assert {f.kind for f in pass_only.findings} >= {
        "value_mismatch", "missing_in_shadow", "extra_in_shadow", "invalid_source"
    }  # fmt: skip
    assert [f.to_dict() for f in rechecked.findings] == [f.to_dict() for f in pass_only.findings]
    assert rechecked.summary == pass_only.summary
    assert rechecked.recheck is not None and rechecked.recheck.transient == {}


def test_the_recheck_creates_nothing_in_the_source(tmp_path):
    """Units a writer without the lock made have no lock file: the re-check reads them
    without one and creates no file or folder in the source (extra rows included)."""
    store = make_store(tmp_path, 3)
    for lock in store.source.rglob(".*.lock"):
        lock.unlink()
    store.sql("UPDATE missions SET owner = 'x' WHERE mission_uuid = 'proj-000001'")
    store.sql("UPDATE missions SET mission_uuid = 'proj-gone' WHERE mission_uuid = 'proj-000002'")
    files = sorted(store.source.rglob("*"))
    result = audit(store.source, store.db, settle=0.1)
    assert sorted(store.source.rglob("*")) == files
    kinds = {(f.kind, f.key) for f in result.findings if f.entity == "missions"}
    assert kinds == {
        ("value_mismatch", "proj-000001"),
        ("missing_in_shadow", "proj-000002"),
        ("extra_in_shadow", "proj-gone"),
    }


def test_the_recheck_reads_a_read_only_database(store):
    store.sql("UPDATE missions SET owner = 'x' WHERE mission_uuid = ?", LAST)
    with read_only_file(store.db):
        result = audit(store.source, store.db, settle=0.1)
    assert [(f.kind, f.key, f.field) for f in result.findings] == [
        ("value_mismatch", LAST, "owner")
    ]


# --- settle: library, config, CLI ---------------------------------------------------


@pytest.mark.parametrize("bad", [-1, float("nan"), float("inf"), "5", True])
def test_settle_must_be_seconds(store, bad):
    with pytest.raises(UsageError, match="settle"):
        audit(store.source, store.db, settle=bad)


def test_settle_in_the_config(tmp_path):
    good = tmp_path / "good.toml"
    good.write_text("[audit]\nsettle = 0.5\n")
    assert load_config(good).settle == 0.5
    bad = tmp_path / "bad.toml"
    bad.write_text('[audit]\nsettle = "soon"\n')
    with pytest.raises(ConfigError, match=r"bad\.toml.*settle"):
        load_config(bad)


def test_cli_settle_option_and_report(store, tmp_path):
    store.sql("UPDATE missions SET owner = 'x' WHERE mission_uuid = ?", LAST)
    run = audit_cli(store.source, store.db, tmp_path / "out", "--settle", "0.2", "--no-history")
    assert run.returncode == 1, run.stderr
    assert "re-check: 1 unit, " in run.stdout
    report = json.loads((tmp_path / "out" / "report.json").read_text())
    jsonschema.validate(report, json.loads(SCHEMA.read_text()))
    assert report["recheck"]["units"] == 1 and report["recheck"]["drift_units"] == 1
    assert report["recheck"]["settle_seconds"] == 0.2
    assert report["counts"]["unstable"] == 0
    run = audit_cli(store.source, store.db, tmp_path / "o2", "--settle", "-1", "--no-history")
    assert run.returncode == 2
    assert run.stderr.strip().splitlines() == [
        "shadow-audit: settle: -1.0 is not a number of seconds >= 0"
    ]
    run = audit_cli(store.source, store.db, tmp_path / "o2", "--settle", "soon", "--no-history")
    assert run.returncode == 2 and "--settle" in run.stderr


def test_the_gate_bounds_unstable_units(store, tmp_path):
    """An unstable unit leaves the run GREEN (it is not drift) and the gate says how many
    it allows: none by default."""
    versions = iter(range(1, 100))

    def rewrite(record: logging.LogRecord | None = None) -> None:
        write_json(store, newer(store, 4, next(versions)))

    with on_log("re-check round", rewrite):
        result = audit(store.source, store.db, settle=0.2, progress=after_unit(1, rewrite))
    assert result.status == "GREEN" and result.counts()["unstable"] == 1
    book = History(tmp_path / "h.db")
    book.record(result)
    strict = decide(book.runs(), policy=GatePolicy(min_green_runs=1, min_days=0))
    checks = {r.check: r for r in strict.reasons}
    assert checks["findings"].passed  # unstable is not drift
    assert not checks["unstable"].passed and "has 1 unit that" in checks["unstable"].message
    assert not strict.ready
    lenient = GatePolicy.from_config({"max_unstable": 1, "min_green_runs": 1, "min_days": 0})
    assert {r.check: r.passed for r in decide(book.runs(), policy=lenient).reasons}["unstable"]
