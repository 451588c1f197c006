"""Repair: JSON wins; dry run changes nothing; execute fixes every kind of drift batch by
batch under the writer's locks, re-checks each unit just before changing it, keeps
before-images and re-audits; refuses deletes while sources are invalid; migration keeps
the user's views, triggers and indexes."""

from __future__ import annotations

import hashlib
import json
import os
import queue
import resource
import shutil
import sqlite3
import stat
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from filelock import FileLock

from shadow_audit.engine.run import audit
from shadow_audit.errors import DatabaseError
from shadow_audit.repair import repair as repair_workflow
from shadow_audit.stores.json_store import JsonStore
from shadow_audit.stores.sqlite_shadow import SqliteShadow
from shadow_audit.synth import make_projects
from tests.conftest import make_store, run_cli, run_main, wait_for

TESTS = Path(__file__).resolve().parent


def drift(store) -> None:
    """One of each: changed field, missing row, extra row, deleted workspace, orphan row."""
    store.sql("UPDATE missions SET owner = 'mallory' WHERE mission_uuid = 'proj-000000'")
    store.sql("DELETE FROM session_narrative WHERE position = 0 AND mission_id = 2")
    store.sql(
        "INSERT INTO domain_concepts (mission_id, concept, timestamp) VALUES (3, 'stale', 't')"
    )
    shutil.rmtree(store.source / "proj-000004")
    store.sql("PRAGMA foreign_keys = OFF")
    store.sql(
        "INSERT INTO session_narrative (mission_id, position, session_num, summary, date, phase) VALUES (99, 0, 1, 's', 'd', 'p')"
    )


def repair(store, *flags, process=False):
    """``shadow-audit repair`` on the store: in this process (run_main), or with
    ``process=True`` as a subprocess, for the tests whose subject is its exit status."""
    run = run_cli if process else run_main
    return run(
        "repair",
        "--source",
        str(store.source),
        "--shadow",
        str(store.db),
        "--out",
        str(store.root / "out"),
        *flags,
    )


def digest(path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_dry_run_prints_the_plan_and_changes_nothing(store):
    drift(store)
    before = digest(store.db)
    run = repair(store)
    assert run.returncode == 1, run.stdout + run.stderr
    assert "UPDATE missions proj-000000 owner: 'mallory' -> 'owner0@example.com'" in run.stdout
    assert "INSERT session_narrative proj-000001/0" in run.stdout
    assert "DELETE domain_concepts proj-000002/stale" in run.stdout
    assert "DELETE missions proj-000004" in run.stdout
    assert "dry run: nothing changed" in run.stdout
    assert digest(store.db) == before


def test_execute_repairs_every_kind_and_keeps_before_images(store):
    drift(store)
    run = repair(store, "--execute")
    assert run.returncode == 0, run.stdout + run.stderr
    assert "re-audit: GREEN; 0 findings left on the repaired keys" in run.stdout
    assert audit(store.source, store.db).findings == ()
    (images,) = (store.root / "out").glob("repair-*.before.jsonl")
    units = {u["key"]: u["tables"] for u in map(json.loads, images.read_text().splitlines())}
    assert units["proj-000000"]["missions"][0]["owner"] == "mallory"
    assert "proj-000004" in units
    assert store.sql("SELECT count(*) FROM missions WHERE mission_uuid = 'proj-000004'") == [(0,)]


def test_repair_of_a_clean_store_does_nothing(store):
    run = repair(store, "--execute")
    assert run.returncode == 0
    assert "nothing to repair" in run.stdout


def test_refuses_deletes_while_sources_are_invalid_unless_forced(store):
    shutil.rmtree(store.source / "proj-000004")
    (store.source / "proj-000003" / "project_manifest.json").write_text("{not json")
    refused = repair(store, "--execute", process=True)
    assert refused.returncode == 2
    assert (
        "refusing to delete 1 unit from the shadow while 1 source document is invalid"
        in refused.stderr
    )
    assert store.sql("SELECT count(*) FROM missions WHERE mission_uuid = 'proj-000004'") == [(1,)]
    forced = repair(store, "--execute", "--force", process=True)
    assert forced.returncode == 1  # the invalid document is still a finding
    assert store.sql("SELECT count(*) FROM missions WHERE mission_uuid = 'proj-000004'") == [(0,)]
    assert store.sql("SELECT count(*) FROM missions WHERE mission_uuid = 'proj-000003'") == [(1,)]


def test_migrate_turns_a_reference_v2_database_into_a_lossless_one(tmp_path):
    store = make_store(tmp_path, 3, reference_v2=True)
    assert not audit(store.source, store.db).coverage.complete
    run = repair(store, "--execute", "--migrate")
    assert run.returncode == 0, run.stdout + run.stderr
    assert (
        "migrated: missions, session_narrative, domain_concepts, domain_concerns, trajectory"
        in run.stdout
    )
    after = audit(store.source, store.db)
    assert after.status == "GREEN" and after.coverage.complete
    # the application's writer, created before the migration, sees the new schema at once
    manifest = store.projects[0][0]
    manifest["status"]["projectPhase"] = "AWAITING_CODE_GENERATION"
    assert store.writer.save_manifest(manifest).shadow_ok
    assert audit(store.source, store.db).findings == ()


def lock_of(store, unit: str) -> FileLock:
    """The writer's lock of one unit (the same file DualWriter and repair take)."""
    return FileLock(str(store.source / unit / ".project_manifest.json.lock"))


class Lines:
    """A process's stdout, line by line, read by a thread: ``until`` is a barrier with a
    deadline (select on the pipe would miss lines already in the reader's buffer)."""

    def __init__(self, process: subprocess.Popen[str]) -> None:
        self.queue: queue.Queue[str | None] = queue.Queue()
        self.seen: list[str] = []
        assert process.stdout is not None
        stream = process.stdout

        def pump() -> None:
            for line in stream:
                self.queue.put(line)
            self.queue.put(None)

        threading.Thread(target=pump, daemon=True).start()

    def until(self, prefix: str, deadline: float = 120.0) -> None:
        end = time.monotonic() + deadline
        while (left := end - time.monotonic()) > 0:
            try:
                line = self.queue.get(timeout=left)
            except queue.Empty:
                break
            if line is None:
                break
            self.seen.append(line)
            if line.startswith(prefix):
                return
        raise AssertionError(f"no line {prefix!r} from the process: {self.seen}")

    def rest(self) -> str:
        lines = []
        while (line := self.queue.get(timeout=120)) is not None:
            lines.append(line)
        return "".join(self.seen + lines)


@pytest.mark.slow  # a repair racing a second process: a race test
def test_a_unit_recreated_while_repair_runs_keeps_its_rows(store, tmp_path):
    """The red-team reproduction: proj-000004 is planned for deletion, then the application
    (a second process) writes it again before repair reaches it; its rows must survive."""
    store.sql("UPDATE missions SET owner = 'mallory' WHERE mission_uuid = 'proj-000000'")
    shutil.rmtree(store.source / "proj-000004")
    project = tmp_path / "proj-000004.json"
    project.write_text(json.dumps(list(store.projects[4])))
    held = lock_of(store, "proj-000000")  # the first unit repair locks: it waits here
    held.acquire()
    try:
        repair_run = subprocess.Popen(
            [sys.executable, "-u", "-m", "shadow_audit.cli", "repair", "--execute",
             "--source", str(store.source), "--shadow", str(store.db), "--out", str(tmp_path / "out")],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=tmp_path,
        )  # fmt: skip
        # the barrier: the plan, printed before anything changes, says it will delete the unit
        output = Lines(repair_run)
        output.until("  DELETE missions proj-000004")
        app = subprocess.run(
            [sys.executable, str(TESTS / "repair_app.py"), str(store.source), str(store.db),
             str(project)],
            capture_output=True, text=True, timeout=120, cwd=TESTS.parent,
        )  # fmt: skip
        assert app.returncode == 0, app.stderr
    finally:
        held.release()
    out = output.rest()
    err = repair_run.stderr.read() if repair_run.stderr else ""
    assert repair_run.wait(timeout=120) == 0, out + err
    assert "re-planned proj-000004: re-created since the plan: re-synced, not deleted" in out
    assert store.sql("SELECT count(*) FROM missions WHERE mission_uuid = 'proj-000004'") == [(1,)]
    assert audit(store.source, store.db).findings == ()


def test_one_unsafe_workspace_name_is_skipped_and_the_rest_repaired(store, tmp_path):
    store.sql("UPDATE missions SET owner = 'mallory' WHERE mission_uuid = 'proj-000000'")
    (store.source / "proj-000003").rename(store.source / "proj 3")  # not a safe folder name
    store.sql("UPDATE missions SET owner = 'eve' WHERE mission_uuid = 'proj-000003'")
    run = repair(store, "--execute")
    assert run.returncode == 1, run.stdout + run.stderr
    assert "skipped proj-000003: skipped: workspace 'proj 3' is not a safe name" in run.stdout
    assert "repaired: 1 unit re-synced from JSON, 0 deleted" in run.stdout
    left = audit(store.source, store.db)
    assert {f.key for f in left.findings} == {"proj-000003"}


@pytest.mark.parametrize(
    ("units", "open_files"),
    [
        pytest.param(2000, 256, marks=pytest.mark.slow, id="2000-units-256-files"),
        pytest.param(400, 128, id="400-units-128-files"),  # the quick run's: same law, smaller
    ],
)
def test_repair_holds_few_files_open_whatever_the_store_size(tmp_path, units, open_files):
    """Many more units to re-sync than open files allowed: every unit is repaired."""
    store = JsonStore(tmp_path / "workspaces")
    for manifest, memory in make_projects(units, seed=5, sessions=1, concepts=1, concerns=1):
        pid = manifest["metadata"]["projectId"]
        store.write(store.path_for(pid, "manifest"), manifest)
        store.write(store.path_for(pid, "memory"), memory)
    db = tmp_path / "shadow.db"
    SqliteShadow(db)

    def low_limit() -> None:
        resource.setrlimit(resource.RLIMIT_NOFILE, (open_files, open_files))

    run = subprocess.run(
        [sys.executable, "-m", "shadow_audit.cli", "repair", "--execute", "--source",
         str(store.root), "--shadow", str(db), "--out", str(tmp_path / "out")],
        capture_output=True, text=True, timeout=600, cwd=tmp_path, preexec_fn=low_limit,
    )  # fmt: skip
    assert run.returncode == 0, run.stdout[-2000:] + run.stderr[-2000:]
    assert f"repaired: {units:,} units re-synced from JSON, 0 deleted" in run.stdout
    assert audit(store.root, db).findings == ()


def test_still_red_because_of_invalid_sources_says_so(store):
    store.sql("UPDATE missions SET owner = 'mallory' WHERE mission_uuid = 'proj-000000'")
    (store.source / "proj-000003" / "project_manifest.json").write_text("{not json")
    run = repair(store, "--execute", process=True)
    assert run.returncode == 1, run.stdout + run.stderr
    assert "re-audit: RED; 0 findings left on the repaired keys" in run.stdout
    assert "still RED: 1 source document is invalid: repair copies valid JSON only" in run.stdout
    outcome = repair_workflow(store.source, store.db, execute=True, out=store.root / "out")
    assert outcome.status == "RED" and outcome.invalid_sources == 1


def test_before_images_are_no_wider_than_the_source_folder(store):
    store.sql("UPDATE missions SET owner = 'mallory' WHERE mission_uuid = 'proj-000000'")
    os.chmod(store.source, 0o700)
    outcome = repair_workflow(store.source, store.db, execute=True, out=store.root / "out")
    assert outcome.execution is not None
    assert stat.S_IMODE(outcome.execution.before_images.stat().st_mode) & 0o077 == 0


def test_repair_of_a_missing_database_is_one_line_and_exit_2(store, tmp_path):
    run = run_cli("repair", "--source", str(store.source), "--shadow", str(tmp_path / "no.db"))
    assert run.returncode == 2
    assert run.stderr == f"shadow-audit: database {tmp_path / 'no.db'}: no such file\n"


USER_OBJECTS = """
CREATE TABLE phase_log (mission TEXT, phase TEXT);
CREATE TRIGGER log_phase AFTER UPDATE OF phase ON missions
BEGIN INSERT INTO phase_log VALUES (new.mission_uuid, new.phase); END;
CREATE INDEX idx_missions_owner ON missions(owner);
CREATE VIEW open_missions AS SELECT mission_uuid, phase FROM missions WHERE status = 'in_progress';
"""


def schema_of(db: Path) -> list[tuple[str, str]]:
    with sqlite3.connect(db) as conn:
        return sorted(conn.execute("SELECT type, name FROM sqlite_master WHERE sql IS NOT NULL"))


def test_migrate_keeps_the_users_trigger_index_and_view(tmp_path):
    store = make_store(tmp_path, 3, reference_v2=True)
    with sqlite3.connect(store.db) as conn:
        conn.executescript(USER_OBJECTS)
    run = repair(store, "--execute", "--migrate")
    assert run.returncode == 0, run.stdout + run.stderr
    assert "migrated: missions," in run.stdout
    objects = schema_of(store.db)
    for kept in [("trigger", "log_phase"), ("index", "idx_missions_owner"),
                 ("view", "open_missions")]:  # fmt: skip
        assert kept in objects
    assert len(store.sql("SELECT * FROM open_missions")) == 3
    store.sql("UPDATE missions SET phase = 'TESTING' WHERE mission_uuid = 'proj-000001'")
    assert store.sql("SELECT * FROM phase_log")[-1] == ("proj-000001", "TESTING")  # it fires
    with sqlite3.connect(store.db) as conn:
        plan = conn.execute("EXPLAIN QUERY PLAN SELECT * FROM missions WHERE owner = 'x'")
        assert "idx_missions_owner" in str(plan.fetchall())


def test_migrate_refuses_before_changing_anything_and_names_what_it_cannot_keep(tmp_path):
    store = make_store(tmp_path, 2, reference_v2=True)
    with sqlite3.connect(store.db) as conn:
        conn.executescript(USER_OBJECTS)
        conn.execute("ALTER TABLE missions ADD COLUMN reviewer TEXT")
        conn.execute("CREATE INDEX idx_reviewer ON missions(reviewer)")
    before = schema_of(store.db)
    with pytest.raises(DatabaseError, match=r"the column missions.reviewer is not in the mapping"):
        SqliteShadow(store.db, create=False).migrate()
    assert schema_of(store.db) == before
    run = repair(store, "--execute", "--migrate")
    assert run.returncode == 2
    assert "migration refused, nothing changed: the column missions.reviewer" in run.stderr


def test_repair_of_a_deleted_workspace_leaves_no_folder_behind(store):
    """The unit's lock needs its folder: repair made it only to lock a unit whose JSON is
    gone, and removes it again (with the lock file) once the rows are deleted."""
    shutil.rmtree(store.source / "proj-000004")
    run = repair(store, "--execute")
    assert run.returncode == 0, run.stdout + run.stderr
    assert store.sql("SELECT count(*) FROM missions WHERE mission_uuid = 'proj-000004'") == [(0,)]
    assert not (store.source / "proj-000004").exists()
    assert sorted(p.name for p in store.source.iterdir()) == [f"proj-00000{i}" for i in range(4)]


def test_repair_keeps_a_deleted_workspace_folder_that_still_holds_something(store):
    """Only the manifest is gone: the folder keeps what is left (and its lock file)."""
    (store.source / "proj-000004" / "project_manifest.json").unlink()
    (store.source / "proj-000004" / "notes.txt").write_text("mine")
    run = repair(store, "--execute")
    assert run.returncode == 0, run.stdout + run.stderr
    assert store.sql("SELECT count(*) FROM missions WHERE mission_uuid = 'proj-000004'") == [(0,)]
    assert (store.source / "proj-000004" / "notes.txt").read_text() == "mine"


def process_state(pid: int) -> str:
    """The one-letter state of a process (``S``: sleeping, e.g. between lock attempts)."""
    return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]


@pytest.mark.skipif(not Path("/proc/self/stat").is_file(), reason="needs /proc")
def test_a_writer_waiting_while_the_empty_folder_is_dropped_makes_it_again_and_saves(
    store, tmp_path
):
    """The race of repair's cleanup: the application re-creates a deleted workspace and
    waits for its lock while the holder removes the lock file and the folder (as repair does
    last, under the lock). The waiting writer makes both again and saves, never an error."""
    shutil.rmtree(store.source / "proj-000004")
    project = tmp_path / "proj-000004.json"
    project.write_text(json.dumps(list(store.projects[4])))
    json_store = JsonStore(store.source)
    with json_store.lock("proj-000004"):
        app = subprocess.Popen(
            [sys.executable, str(TESTS / "repair_app.py"), str(store.source), str(store.db),
             str(project)],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=TESTS.parent,
        )  # fmt: skip
        output = Lines(app)
        output.until("saving")
        # past its mkdir, polling for the lock: asleep between attempts
        wait_for(lambda: app.poll() is not None or process_state(app.pid) == "S", "the wait")
        assert app.poll() is None, output.rest()
        assert json_store.drop_lock_folder("proj-000004")
        assert not (store.source / "proj-000004").exists()
    assert app.wait(timeout=120) == 0, app.stderr.read() if app.stderr else ""
    assert (store.source / "proj-000004" / "project_manifest.json").is_file()
    assert audit(store.source, store.db).findings == ()


def test_repair_of_a_project_saved_without_memory(tmp_path):
    """The reference saves a manifest long before it has a memory: repairing such a
    project must not invent a memory's rows (trajectory.current_phase is NOT NULL)."""
    store = make_store(tmp_path, n=2)
    manifest, _ = make_projects(3, seed=1, sessions=4, concepts=4, concerns=2)[2]
    store.writer.save_project(manifest, None)
    key = manifest["metadata"]["projectId"]
    store.sql("UPDATE missions SET owner = 'mallory' WHERE mission_uuid = ?", key)
    run = repair(store, "--execute")
    assert run.returncode == 0, run.stdout + run.stderr
    assert audit(store.source, store.db).findings == ()
    assert store.sql(
        "SELECT count(*) FROM trajectory JOIN missions ON missions.id = trajectory.mission_id "
        "WHERE mission_uuid = ?",
        key,
    ) == [(0,)]


def test_nothing_to_repair_but_red_because_of_invalid_sources_says_so(store):
    (store.source / "proj-000003" / "project_manifest.json").write_text("{not json")
    for flags in ((), ("--execute",)):
        run = repair(store, *flags)
        assert "plan: nothing to repair" in run.stdout, run.stdout + run.stderr
        assert "still RED: 1 source document is invalid: repair copies valid JSON only" in (
            run.stdout
        ), flags
