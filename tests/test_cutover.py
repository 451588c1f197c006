"""The cutover CLI and its step gates, as a subprocess on real files and a real database.

Dataset: three generated projects saved through open_store; a history of eight real GREEN
audits re-stamped one day apart, the last an hour ago (the gate's seven-day streak).
"""

from __future__ import annotations

import copy
import dataclasses
import itertools
import re
import shutil
import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
import pytest

from shadow_audit.config import Config
from shadow_audit.cutover import PhaseChangedError, _move, advance, cutover_status, rollback
from shadow_audit.dualwrite import DualWriter
from shadow_audit.engine.run import audit
from shadow_audit.errors import UsageError
from shadow_audit.ledger import FailureLedger, default_ledger_path
from shadow_audit.mapping import build_documents
from shadow_audit.report.history import History
from shadow_audit.store import open_store
from shadow_audit.stores.json_store import JsonStore
from shadow_audit.stores.rows import read_unit_rows
from shadow_audit.stores.sqlite_shadow import SqliteShadow
from shadow_audit.synth import make_projects
from tests.conftest import run_cli, run_main

PROJECTS = make_projects(3, seed=5, sessions=3, concepts=3, concerns=2)
NOW = datetime.now(UTC)


def docs(i: int) -> dict[str, Any]:
    manifest, memory = copy.deepcopy(PROJECTS[i])
    return {"manifest": manifest, "memory": memory}


def stamp(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


@pytest.fixture
def root(tmp_path: Path) -> Path:
    with open_store(tmp_path / "ws", tmp_path / "s.db") as store:
        for i in range(3):
            store.save(docs(i))
    (tmp_path / "c.toml").write_text("[cutover]\nread_sample = 1.0\nmin_verified_reads = 5\n")
    return tmp_path


def green_days(root: Path, days: int = 7) -> None:
    """A real GREEN audit recorded ``days + 1`` times, one day apart, the last an hour ago."""
    result = audit(root / "ws", root / "s.db")
    assert result.status == "GREEN" and result.coverage.complete
    book = History(root / "history.db")
    for i in range(days + 1):
        at = NOW - timedelta(days=days - i, hours=1)
        at_end = stamp(at + timedelta(seconds=30))
        book.record(dataclasses.replace(result, started_at=stamp(at), finished_at=at_end))


def cli(root: Path, *args: str) -> Any:
    where = {
        "status": ["--shadow", str(root / "s.db")],
        "advance": ["--source", str(root / "ws"), "--shadow", str(root / "s.db"),
                    "--history", str(root / "history.db"), "--config", str(root / "c.toml")],
        "rollback": ["--source", str(root / "ws"), "--shadow", str(root / "s.db"),
                     "--config", str(root / "c.toml")],
    }  # fmt: skip
    return run_cli("cutover", args[0], *where[args[0]], *args[1:])


def loads(root: Path, n: int) -> None:
    store = open_store(root / "ws", root / "s.db", config=Config(cutover={"read_sample": 1.0}))
    for i in range(n):
        store.load(f"proj-00000{i % 3}")


def test_status_of_a_fresh_database(root):
    done = cli(root, "status")
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == ["shadow", "  no transitions yet"]


def test_status_of_a_missing_database_is_exit_2(tmp_path):
    done = run_cli("cutover", "status", "--shadow", str(tmp_path / "nope.db"))
    assert done.returncode == 2
    assert done.stderr.strip() == f"shadow-audit: database {tmp_path / 'nope.db'}: no such file"


def test_status_of_a_reference_database_without_phase_table_is_shadow(tmp_path):
    sqlite3.connect(tmp_path / "ref.db").execute(
        "CREATE TABLE missions (id INTEGER)"
    ).connection.close()
    done = run_cli("cutover", "status", "--shadow", str(tmp_path / "ref.db"))
    assert done.returncode == 0 and done.stdout.splitlines()[0] == "shadow"


def test_advance_refuses_without_evidence_and_lists_every_reason(root):
    done = run_cli(
        "cutover", "advance", "--source", str(root / "ws"), "--shadow", str(root / "s.db")
    )
    assert done.returncode == 1, done.stderr
    assert done.stdout.splitlines() == [
        "refused: shadow -> read-verify (gate NOT READY)",
        "  FAIL  history: no audit of this shadow is recorded yet",
        "not moved; --force --reason TEXT moves anyway, recorded as forced",
    ]
    assert cutover_status(root / "s.db").phase == "shadow"


def test_the_whole_journey_through_the_cli(root):
    """Each step refused without its evidence and taken with it; status shows the history."""
    green_days(root)
    done = cli(root, "advance")
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.splitlines()[0] == "moved: shadow -> read-verify (gate READY)"
    assert "  pass  green_streak: 8 consecutive GREEN runs (needed 7)" in done.stdout

    refused = cli(root, "advance")
    assert refused.returncode == 1
    assert (
        refused.stdout.splitlines()[0] == "refused: read-verify -> sqlite-primary (gate NOT READY)"
    )
    assert "  FAIL  verified_reads: 0 verified reads without a mismatch since read-verify " \
           "began (needed 5); 0 verified, 0 failed" in refused.stdout  # fmt: skip
    assert "  pass  green_streak" in refused.stdout  # today's gate is still part of this step

    loads(root, 5)
    done = cli(root, "advance")
    assert done.returncode == 0, done.stdout
    assert "  pass  verified_reads: 5 verified reads" in done.stdout

    refused = cli(root, "advance")
    assert refused.returncode == 1
    assert "  FAIL  days_primary: 0.0 days in sqlite-primary (needed 7)" in refused.stdout
    assert "  pass  backup_failures: 0 JSON-backup failures" in refused.stdout
    later = stamp(NOW + timedelta(days=8))
    done = cli(root, "advance", "--now", later)
    assert done.returncode == 0, done.stdout
    assert "  pass  days_primary: 8.0 days" in done.stdout

    at_end = cli(root, "advance", "--now", later)
    assert at_end.returncode == 2
    assert "already json-retired; there is no phase after it" in at_end.stderr

    lines = cli(root, "status").stdout.splitlines()
    assert lines[0] == "json-retired"
    assert [line.split()[2:] for line in lines[1:]] == [
        ["shadow", "->", "read-verify"],
        ["read-verify", "->", "sqlite-primary"],
        ["sqlite-primary", "->", "json-retired"],
    ]
    transitions = cutover_status(root / "s.db").transitions
    assert [t.evidence["verdict"] for t in transitions] == ["READY"] * 3
    assert transitions[1].evidence["reasons"][-1]["evidence"]["clean_streak"] == 5


def test_a_read_mismatch_blocks_sqlite_primary_until_repaired_and_reverified(root):
    green_days(root)
    advance(root / "ws", root / "s.db", history=root / "history.db")
    loads(root, 5)
    conn = sqlite3.connect(root / "s.db")
    conn.execute("UPDATE missions SET owner = 'mallory' WHERE mission_uuid = 'proj-000002'")
    conn.commit()
    conn.close()
    loads(root, 3)  # proj-000002 is the third read
    refused = cli(root, "advance")
    assert refused.returncode == 1
    assert "  FAIL  verified_reads: 0 verified reads without a mismatch since the last " \
           "mismatch (needed 5); 8 verified, 1 failed" in refused.stdout  # fmt: skip
    repaired = run_cli("repair", "--source", str(root / "ws"), "--shadow", str(root / "s.db"),
                       "--execute", "--out", str(root / "reports"))  # fmt: skip
    assert repaired.returncode == 0, repaired.stdout + repaired.stderr
    loads(root, 5)
    assert cli(root, "advance").returncode == 0


def test_backup_failures_block_json_retired(root):
    green_days(root)
    for _ in range(2):
        advance(root / "ws", root / "s.db", force=True, reason="setup")
    FailureLedger(default_ledger_path(root / "s.db")).record(
        key="proj-000001", document_hash="0" * 64, error=OSError("disk full")
    )
    refused = cli(root, "advance", "--now", stamp(NOW + timedelta(days=30)))
    assert refused.returncode == 1
    assert "  FAIL  backup_failures: 1 JSON-backup failure since" in refused.stdout


def test_force_needs_a_reason_and_is_recorded(root):
    done = run_cli(
        "cutover",
        "advance",
        "--source",
        str(root / "ws"),
        "--shadow",
        str(root / "s.db"),
        "--force",
    )
    assert done.returncode == 2
    assert "--force needs --reason" in done.stderr
    done = run_cli(
        "cutover",
        "advance",
        "--source",
        str(root / "ws"),
        "--shadow",
        str(root / "s.db"),
        "--force",
        "--reason",
        "weekend window\x1b[31m",
    )
    assert done.returncode == 0, done.stderr
    assert "forced: weekend window\\e[31m" in done.stdout
    (t,) = cutover_status(root / "s.db").transitions
    assert (t.forced, t.reason, t.evidence["verdict"]) == (
        True,
        "weekend window\x1b[31m",
        "NOT READY",
    )
    assert "FORCED (weekend window\\e[31m)" in cli(root, "status").stdout


def test_rollback_from_shadow_is_exit_2(root):
    done = cli(root, "rollback")
    assert done.returncode == 2
    assert "already shadow; there is no phase before it" in done.stderr


def test_rollback_from_sqlite_primary_brings_the_json_up_to_date(root):
    for _ in range(2):
        advance(root / "ws", root / "s.db", force=True, reason="setup")
    store = open_store(root / "ws", root / "s.db")
    d = docs(0)
    d["manifest"]["status"]["message"] = "written in sqlite-primary"
    store.save(d)
    (root / "ws" / "proj-000000" / "project_manifest.json").write_bytes(b'{"stale": true}')
    done = cli(root, "rollback", "--reason", "drill")
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[0] == "rolled back: sqlite-primary -> read-verify"
    assert "JSON brought up to date from SQLite: 3 keys" in done.stdout
    manifest = orjson.loads((root / "ws" / "proj-000000" / "project_manifest.json").read_bytes())
    assert manifest == d["manifest"]
    t = cutover_status(root / "s.db").transitions[-1]
    assert (t.from_phase, t.to_phase, t.reason) == ("sqlite-primary", "read-verify", "drill")
    assert t.evidence["exported"]["keys"] == 3


def test_rollback_refuses_when_the_json_cannot_be_written(root):
    for _ in range(2):
        advance(root / "ws", root / "s.db", force=True, reason="setup")
    folder = root / "ws" / "proj-000001"
    shutil.rmtree(folder)
    folder.write_text("a file where the workspace folder was\n")
    done = cli(root, "rollback")
    assert done.returncode == 2
    assert done.stderr.startswith(f"shadow-audit: export to {root / 'ws'}: proj-000001: ")
    assert cutover_status(root / "s.db").phase == "sqlite-primary"


def test_a_move_decided_on_a_phase_that_changed_meanwhile_is_refused(root):
    advance(root / "ws", root / "s.db", force=True, reason="one")
    with pytest.raises(PhaseChangedError, match="phase is now read-verify, not shadow"):
        _move(root / "s.db", Config(), expect="shadow", to="read-verify", at=NOW,
              evidence={}, forced=True, reason="stale")  # fmt: skip
    assert len(cutover_status(root / "s.db").transitions) == 1


def test_rollback_and_advance_keep_a_consistent_history(root):
    for _ in range(3):
        advance(root / "ws", root / "s.db", force=True, reason="up")
    for _ in range(3):
        rollback(root / "ws", root / "s.db", reason="down")
    transitions = cutover_status(root / "s.db").transitions
    assert [t.to_phase for t in transitions] == [
        "read-verify", "sqlite-primary", "json-retired", "sqlite-primary", "read-verify", "shadow",
    ]  # fmt: skip
    assert all(a.to_phase == b.from_phase for a, b in itertools.pairwise(transitions))


def test_export_writes_the_json_archive_from_sqlite(root, tmp_path):
    out = tmp_path / "archive"
    done = run_cli("export", "--shadow", str(root / "s.db"), "--out", str(out))
    assert done.returncode == 0, done.stderr
    assert (
        done.stdout.strip()
        == f"export: 3 keys from {root / 's.db'} into {out}: 6 files written, 0 already equal"
    )
    conn = sqlite3.connect(root / "s.db")
    for i in range(3):
        key = f"proj-00000{i}"
        rebuilt = build_documents(
            Config().mapping, key, read_unit_rows(conn, Config().mapping, key)
        )
        written = orjson.loads((out / key / "project_manifest.json").read_bytes())
        assert written == rebuilt["manifest"] == docs(i)["manifest"]
        memory_path = JsonStore(out).path_for(key, "memory")
        assert orjson.loads(memory_path.read_bytes()) == rebuilt["memory"] == docs(i)["memory"]
    conn.close()
    again = run_cli("export", "--shadow", str(root / "s.db"), "--out", str(out))
    assert "0 files written, 6 already equal" in again.stdout
    assert not list(out.rglob("*.tmp"))


def test_export_into_the_json_truth_refuses_and_keeps_its_edits(root):
    """`export --out <the workspaces>` in phase shadow must not overwrite the truth's edits."""
    manifest = root / "ws" / "proj-000001" / "project_manifest.json"
    edited = orjson.loads(manifest.read_bytes())
    edited["metadata"]["owner"] = "edited by hand"
    manifest.write_bytes(orjson.dumps(edited))
    before = {p: p.read_bytes() for p in (root / "ws").rglob("*.json")}
    done = run_cli("export", "--shadow", str(root / "s.db"), "--out", str(root / "ws"))
    assert done.returncode == 2
    assert done.stderr.startswith(
        f"shadow-audit: export to {root / 'ws'}: refused, nothing written"
    )
    assert "--overwrite" in done.stderr
    assert {p: p.read_bytes() for p in (root / "ws").rglob("*.json")} == before
    forced = run_cli(
        "export", "--shadow", str(root / "s.db"), "--out", str(root / "ws"), "--overwrite"
    )
    assert forced.returncode == 0, forced.stderr
    assert orjson.loads(manifest.read_bytes())["metadata"]["owner"] != "edited by hand"


def test_export_of_a_missing_database_is_exit_2(tmp_path):
    done = run_cli("export", "--shadow", str(tmp_path / "x.db"), "--out", str(tmp_path / "o"))
    assert done.returncode == 2
    assert "no such file" in done.stderr


def test_every_cutover_command_has_help():
    for args in (["cutover", "--help"], ["cutover", "status", "--help"], ["cutover", "advance", "--help"],
                 ["cutover", "rollback", "--help"], ["export", "--help"]):  # fmt: skip
        done = run_cli(*args)
        assert done.returncode == 0 and "usage:" in done.stdout


# --- roles swap in sqlite-primary, the drill -----------------------------------------------


def replace_folder_with_file(folder: Path) -> None:
    """A path component that is a file: a JSON write failure that root cannot bypass."""
    shutil.rmtree(folder)
    folder.write_text("a file where the workspace folder was\n")


def report(root: Path, out: str) -> dict[str, Any]:
    done = run_main("audit", "--source", str(root / "ws"), "--shadow", str(root / "s.db"),
                    "--out", str(root / out), "--no-history", "--settle", "0")  # fmt: skip
    assert done.returncode in (0, 1), done.stderr
    return orjson.loads((root / out / "report.json").read_bytes())


def test_the_drill_sqlite_primary_edits_survive_a_rollback(root):
    """Three edits in sqlite-primary, one with its JSON backup failing; the reverse audit
    names the copy's gap; the rollback writes every edit into the JSON; the audit is GREEN."""
    green_days(root)
    config = Config(cutover={"read_sample": 1.0, "min_verified_reads": 3})
    assert advance(root / "ws", root / "s.db", history=root / "history.db").moved
    loads(root, 3)
    assert advance(root / "ws", root / "s.db", history=root / "history.db", config=config).moved
    store = open_store(root / "ws", root / "s.db")
    edits = [docs(i) for i in range(3)]
    edits[0]["manifest"]["status"]["message"] = "edit 0"
    edits[1]["manifest"]["status"]["message"] = "edit 1, backup fails"
    edits[2]["memory"]["trajectory"]["current_focus"] = "edit 2"
    replace_folder_with_file(root / "ws" / "proj-000001")
    saved = [store.save(d) for d in edits]
    assert [s.json_written for s in saved] == [True, False, True]
    assert saved[1].failure is not None

    before = report(root, "r1")
    assert (before["truth"], before["status"]) == ("sqlite", "RED")
    assert {(f["kind"], f["key"].split("/")[0]) for f in before["findings"]} == {
        ("missing_in_shadow", "proj-000001")  # the truth has it, the JSON copy lacks it
    }
    assert before["summary"]["missions"]["missing_in_shadow"] == 1

    (root / "ws" / "proj-000001").unlink()  # the operator clears the way; the rollback writes
    done = cli(root, "rollback", "--reason", "drill")
    assert done.returncode == 0, done.stderr
    for i, d in enumerate(edits):
        folder = root / "ws" / f"proj-00000{i}"
        assert orjson.loads((folder / "project_manifest.json").read_bytes()) == d["manifest"]
        memory = orjson.loads(JsonStore(root / "ws").path_for(folder.name, "memory").read_bytes())
        assert memory == d["memory"]
    after = report(root, "r2")
    assert (after["truth"], after["status"], after["findings"]) == ("json", "GREEN", [])


def test_reverse_audit_swaps_values_and_repair_rewrites_the_json(root):
    """In sqlite-primary an out-of-band JSON edit (as a crash after the backup and before the
    commit would leave) is a mismatch whose source_value is SQLite's; repair fixes the JSON."""
    for _ in range(2):
        advance(root / "ws", root / "s.db", force=True, reason="setup")
    path = root / "ws" / "proj-000002" / "project_manifest.json"
    manifest = orjson.loads(path.read_bytes())
    truth_owner = manifest["metadata"]["owner"]
    manifest["metadata"]["owner"] = "copy only"
    path.write_bytes(orjson.dumps(manifest))
    data = report(root, "r1")
    (f,) = data["findings"]
    assert (f["kind"], f["field"], f["source_value"], f["shadow_value"]) == (
        "value_mismatch", "owner", truth_owner, "copy only",
    )  # fmt: skip
    assert f["detail"]["values_changed"]["root"] == {
        "old_value": truth_owner,
        "new_value": "copy only",
    }
    args = ["repair", "--source", str(root / "ws"), "--shadow", str(root / "s.db"),
            "--out", str(root / "rep")]  # fmt: skip
    dry = run_cli(*args)
    assert dry.returncode == 1, dry.stderr
    assert dry.stdout.splitlines()[:2] == [
        "truth: sqlite; plan: rewrite the JSON of 1 document from SQLite", "  EXPORT proj-000002",
    ]  # fmt: skip
    assert orjson.loads(path.read_bytes())["metadata"]["owner"] == "copy only"
    done = run_cli(*args, "--execute")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "repaired: 1 JSON file rewritten from SQLite" in done.stdout
    assert "re-audit: GREEN" in done.stdout
    assert orjson.loads(path.read_bytes())["metadata"]["owner"] == truth_owner


def test_demo_cutover_runs_the_whole_journey(tmp_path):
    done = run_cli("demo", "--cutover", "--dir", str(tmp_path / "demo"), "--projects", "6")
    assert done.returncode == 0, done.stdout + done.stderr
    out = done.stdout
    assert out.count("audit GREEN (truth: json, 0 findings)") >= 8
    assert "   READY; moved" in out
    assert re.search(r"mismatch recorded: value_mismatch missions.owner: JSON '[^']+', "
                     r"SQLite 'dba@example.com'", out)  # fmt: skip
    assert (
        "FAIL  verified_reads: 0 verified reads without a mismatch since the last mismatch" in out
    )
    assert "the application now reads from SQLite: phase sqlite-primary" in out
    assert "reverse audit: RED (truth: sqlite): missing_in_shadow proj-000001" in out
    assert "audit: GREEN (truth: json); every edit in the JSON: yes" in out
    assert "operation(s)" not in out
    assert "repair (JSON wins): 1 row operation on proj-000002" in out
    assert "   6 more reads: 6 verified, 0 mismatched" in out
    assert "(with SQLite the truth, the audit's 'shadow' is the JSON copy)" in out
    assert out.splitlines()[-1].endswith("sqlite-primary -> read-verify  (rollback)")


def test_the_json_wins_repair_refuses_while_sqlite_is_the_truth(root):
    from shadow_audit.repair import repair

    for _ in range(2):
        advance(root / "ws", root / "s.db", force=True, reason="setup")
    with pytest.raises(UsageError, match="SQLite is the truth"):
        repair(root / "ws", root / "s.db", execute=True, out=root / "rep")


def test_an_explicit_history_that_does_not_exist_is_exit_2(root):
    done = cli(root, "advance")
    assert done.returncode == 2
    assert "history.db: no such file" in done.stderr
    assert cutover_status(root / "s.db").phase == "shadow"


def reference_named_root(tmp_path: Path) -> Path:
    """A project whose folder the reference named its own way: `agency_toolkit/` holding the
    key `agency-toolkit-001`, its memory at `.vibe/project_memory.json` with the folder's name."""
    manifest, memory = copy.deepcopy(PROJECTS[0])
    manifest["metadata"]["projectId"] = "agency-toolkit-001"
    memory["project_id"] = "agency_toolkit"
    writer = DualWriter(JsonStore(tmp_path / "ws"), SqliteShadow(tmp_path / "s.db"))
    writer.save_project(manifest, memory, workspace="agency_toolkit")
    (tmp_path / "c.toml").write_text("")
    return tmp_path


def test_rollback_writes_into_the_folder_that_holds_the_key_not_a_second_one(tmp_path):
    root = reference_named_root(tmp_path)
    for _ in range(2):
        advance(root / "ws", root / "s.db", force=True, reason="setup")
    store = open_store(root / "ws", root / "s.db")
    d = store.load("agency-toolkit-001")
    d["manifest"]["status"]["message"] = "written in sqlite-primary"
    with store.shadow.transaction() as conn:  # SQLite holds the edit, the JSON backup missed it
        store.shadow.write(conn, "agency-toolkit-001", d)
    done = cli(root, "rollback", "--reason", "drill")
    assert done.returncode == 0, done.stderr
    assert sorted(p.name for p in (root / "ws").iterdir()) == ["agency_toolkit"]
    manifest = root / "ws" / "agency_toolkit" / "project_manifest.json"
    assert orjson.loads(manifest.read_bytes()) == d["manifest"]
    after = audit(root / "ws", root / "s.db")
    assert after.status == "GREEN", [f.kind for f in after.findings]


def test_export_of_a_missing_database_creates_no_out_folder(tmp_path):
    done = run_cli("export", "--shadow", str(tmp_path / "x.db"), "--out", str(tmp_path / "o"))
    assert done.returncode == 2
    assert not (tmp_path / "o").exists()


@pytest.mark.parametrize(
    ("toml", "error"),
    [
        ("read_sample = 2", "cutover.read_sample: 2 is not in [0, 1]"),
        ('min_verified_reads = "lots"', "cutover.min_verified_reads: 'lots' is not a number >= 0"),
        ("min_verified_reads = 10.5", "cutover.min_verified_reads: 10.5 is not a whole number"),
    ],
)
def test_a_bad_cutover_value_names_the_config_file_and_moves_nothing(root, toml, error):
    (root / "c.toml").write_text(f"[cutover]\n{toml}\n")
    done = cli(root, "advance", "--force", "--reason", "bad config")
    assert done.returncode == 2
    assert done.stderr == f"shadow-audit: config {root / 'c.toml'}: {error}\n"
    assert cutover_status(root / "s.db").phase == "shadow"


def test_rollback_into_another_folder_than_the_cutover_was_decided_on_is_refused(root):
    for _ in range(2):
        advance(root / "ws", root / "s.db", force=True, reason="setup")
    other = root / "typo"
    other.mkdir()
    done = run_cli("cutover", "rollback", "--source", str(other), "--shadow", str(root / "s.db"))
    assert done.returncode == 2
    assert done.stderr == (
        f"shadow-audit: --source {other}: the cutover was decided on the JSON folder "
        f"{(root / 'ws').resolve()}; a rollback brings that folder up to date (nothing moved)\n"
    )
    assert list(other.iterdir()) == []
    assert cutover_status(root / "s.db").phase == "sqlite-primary"
    done = cli(root, "rollback")
    assert done.returncode == 0, done.stderr


@pytest.mark.parametrize("made", ["empty file", "the audit history"])
def test_export_of_a_sqlite_file_that_is_not_a_shadow_is_exit_2(tmp_path, made):
    db = tmp_path / "other.db"
    if made == "empty file":
        db.write_bytes(b"")
    else:
        History(db).record(audit(*shadow_of_three(tmp_path)))
    done = run_cli("export", "--shadow", str(db), "--out", str(tmp_path / "o"))
    assert done.returncode == 2, done.stderr
    assert done.stderr == f"shadow-audit: database {db}: no table missions: not a shadow database\n"
    assert not (tmp_path / "o").exists()


@pytest.mark.parametrize("step", ["status", "advance", "rollback"])
def test_a_sqlite_file_that_is_not_a_shadow_has_no_phase_and_is_never_moved(tmp_path, step):
    """Another application's database (here: the audit history) is not read as a shadow
    in phase ``shadow``, and a forced advance adds no table to it."""
    _, db = shadow_of_three(tmp_path)
    other = tmp_path / "history.db"
    History(other).record(audit(tmp_path / "ws", db))
    before = other.read_bytes()
    extra = {"advance": ["--source", str(tmp_path / "ws"), "--force", "--reason", "r"],
             "rollback": ["--source", str(tmp_path / "ws")]}.get(step, [])  # fmt: skip
    done = run_cli("cutover", step, "--shadow", str(other), *extra)
    assert done.returncode == 2, done.stderr
    assert done.stderr == (
        f"shadow-audit: database {other}: no table missions: not a shadow database\n"
    )
    assert done.stdout == ""
    assert other.read_bytes() == before


def shadow_of_three(tmp_path: Path) -> tuple[Path, Path]:
    with open_store(tmp_path / "ws", tmp_path / "s.db") as store:
        for i in range(3):
            store.save(docs(i))
    return tmp_path / "ws", tmp_path / "s.db"
