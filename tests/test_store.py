"""open_store: load and save by phase, on real files and a real SQLite database.

Dataset: three generated projects (proj-000000..2), saved through the store in shadow phase;
each test moves the phase (forced: the gates have their own tests) and breaks one thing.
"""

from __future__ import annotations

import copy
import os
import shutil
import sqlite3
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import orjson
import pytest
from filelock import FileLock, Timeout

import shadow_audit as sa
from shadow_audit.config import Config, load_config
from shadow_audit.cutover import advance
from shadow_audit.errors import ConfigError, DatabaseError, InvalidDocumentError
from shadow_audit.readcheck import read_checks, reads_log_path
from shadow_audit.store import CutoverPolicy, DocumentNotFoundError, Store, open_store
from shadow_audit.stores.json_store import lock_path
from shadow_audit.synth import make_projects
from tests.conftest import run_cli, run_sql

PROJECTS = make_projects(3, seed=3, sessions=3, concepts=3, concerns=2)


def docs(i: int) -> dict[str, Any]:
    manifest, memory = copy.deepcopy(PROJECTS[i])
    return {"manifest": manifest, "memory": memory}


def go_to(root: Path, phase: str) -> None:
    """Force the phase forward to ``phase`` (the step gates are tested in test_cutover)."""
    while sa.open_store(root / "ws", root / "s.db").phase != phase:
        advance(root / "ws", root / "s.db", force=True, reason="test setup")


def sql(root: Path, statement: str, *params: Any) -> list[tuple[Any, ...]]:
    return run_sql(root / "s.db", statement, *params)


def fail_mission_writes(root: Path) -> None:
    """A real SQLite failure on every write of the missions table."""
    for when in ("INSERT", "UPDATE"):
        sql(
            root,
            f"CREATE TRIGGER fail_{when.lower()} BEFORE {when} ON missions "
            "BEGIN SELECT RAISE(ABORT, 'missions are read-only today'); END",
        )


@pytest.fixture
def root(tmp_path: Path) -> Path:
    with open_store(tmp_path / "ws", tmp_path / "s.db") as store:
        for i in range(3):
            store.save(docs(i))
    return tmp_path


def open_(root: Path, **cutover: Any) -> Store:
    return open_store(root / "ws", root / "s.db", config=Config(cutover=cutover), seed=1)


def manifest_file(root: Path, i: int) -> Path:
    return root / "ws" / f"proj-00000{i}" / "project_manifest.json"


# --- open_store ----------------------------------------------------------------------------


def test_open_store_is_exported_and_starts_in_shadow(root):
    store = sa.open_store(root / "ws", root / "s.db")
    assert store.phase == "shadow"
    assert sql(root, "SELECT count(*) FROM shadow_audit_phases") == [(0,)]


def test_open_store_creates_the_phase_table_idempotently(tmp_path):
    for _ in range(2):
        open_store(tmp_path / "ws", tmp_path / "s.db").close()
    conn = sqlite3.connect(tmp_path / "s.db")
    names = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")]
    conn.close()
    assert names.count("shadow_audit_phases") == 1


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ({"read_sampel": 0.1}, "unknown keys ['read_sampel']"),
        ({"read_sample": 1.5}, "cutover.read_sample: 1.5 is not in [0, 1]"),
        ({"read_sample": "all"}, "cutover.read_sample: 'all' is not a number"),
        ({"min_verified_reads": -1}, "cutover.min_verified_reads: -1 is not a number"),
        ({"min_verified_reads": 2.5}, "cutover.min_verified_reads: 2.5 is not a whole number"),
        ({"min_days_primary": True}, "cutover.min_days_primary: True is not a number"),
        ({"verify_lock_timeout": -0.5}, "cutover.verify_lock_timeout: -0.5 is not a number >= 0"),
        ({"verify_lock_timeout": "soon"}, "cutover.verify_lock_timeout: 'soon' is not a number"),
        ({"verify_lock_timeout": float("nan")}, "cutover.verify_lock_timeout: nan is not a number"),
    ],
)
def test_bad_cutover_policy_is_a_config_error(tmp_path, raw, message):
    with pytest.raises(ConfigError, match=message.replace("[", r"\[").replace("]", r"\]")):
        CutoverPolicy.from_config(raw)
    with pytest.raises(ConfigError):
        open_store(tmp_path / "ws", tmp_path / "s.db", config=Config(cutover=raw))


def test_the_cutover_table_is_read_from_the_config_file(tmp_path):
    path = tmp_path / "shadow-audit.toml"
    path.write_text("[cutover]\nread_sample = 0.5\nmin_verified_reads = 20\n")
    policy = CutoverPolicy.from_config(load_config(path).cutover)
    assert policy == CutoverPolicy(read_sample=0.5, min_verified_reads=20, min_days_primary=7.0)


def test_verify_lock_timeout_is_set_by_the_config_file_or_open_store(tmp_path):
    """[cutover] verify_lock_timeout, else 0.5 s; open_store's argument wins over both."""
    path = tmp_path / "shadow-audit.toml"
    path.write_text("[cutover]\nverify_lock_timeout = 2.5\n")
    ws, db = tmp_path / "ws", tmp_path / "s.db"
    with open_store(ws, db) as store:
        assert store.verify_lock_timeout == 0.5
    with open_store(ws, db, config=load_config(path)) as store:
        assert store.verify_lock_timeout == store.policy.verify_lock_timeout == 2.5
    with open_store(ws, db, config=load_config(path), verify_lock_timeout=0) as store:
        assert store.verify_lock_timeout == 0


@pytest.mark.parametrize(
    ("value", "shown"),
    [(-1, "-1 is not a number >= 0"), ("1s", "'1s' is not a number >= 0")],
)
def test_a_bad_verify_lock_timeout_argument_is_one_line_naming_it(tmp_path, value, shown):
    with pytest.raises(ConfigError) as raised:
        open_store(tmp_path / "ws", tmp_path / "s.db", verify_lock_timeout=value)
    assert str(raised.value) == f"cutover.verify_lock_timeout: {shown}"


def test_a_bad_verify_lock_timeout_in_the_config_file_is_exit_2_naming_it(tmp_path):
    """Through the CLI: the [cutover] table is checked when the step's policy is read."""
    path = tmp_path / "shadow-audit.toml"
    path.write_text("[cutover]\nverify_lock_timeout = -3\n")
    open_store(tmp_path / "ws", tmp_path / "s.db").close()
    run = run_cli(
        "cutover", "advance", "--source", str(tmp_path / "ws"), "--shadow",
        str(tmp_path / "s.db"), "--config", str(path),
    )  # fmt: skip
    assert run.returncode == 2, run.stdout + run.stderr
    assert run.stderr == (
        f"shadow-audit: config {path}: cutover.verify_lock_timeout: -3 is not a number >= 0\n"
    )


# --- shadow --------------------------------------------------------------------------------


def test_shadow_saves_both_stores_and_reads_json(root):
    store = open_(root)
    d = docs(1)
    d["manifest"]["status"]["message"] = "edited"
    saved = store.save(d)
    assert (saved.phase, saved.json_written, saved.sqlite_written) == ("shadow", True, True)
    assert orjson.loads(manifest_file(root, 1).read_bytes())["status"]["message"] == "edited"
    assert sql(root, "SELECT status_message FROM missions WHERE mission_uuid='proj-000001'") == [
        ("edited",)
    ]
    assert store.load("proj-000001") == d


def test_load_returns_memory_only_when_present(root):
    store = open_(root)
    store.json.path_for("proj-000002", "memory").unlink()
    assert set(store.load("proj-000002")) == {"manifest"}


def test_shadow_write_failure_is_recorded_not_raised(root):
    fail_mission_writes(root)
    store = open_(root)
    d = docs(0)
    d["manifest"]["status"]["message"] = "json only"
    saved = store.save(d)
    assert saved.json_written and not saved.sqlite_written
    assert saved.failure is not None and "read-only today" in saved.failure.message
    assert store.ledger.read().entries[-1].key == "proj-000000"
    assert store.load("proj-000000") == d


def test_shadow_with_the_database_deleted_still_saves_json(root):
    store = open_(root)
    store.load("proj-000000")
    (root / "s.db").unlink()
    d = docs(0)
    d["manifest"]["status"]["message"] = "db gone"
    saved = store.save(d)
    assert saved.json_written and not saved.sqlite_written and saved.failure is not None
    assert not (root / "s.db").exists()  # never silently recreated behind the app's back
    assert store.load("proj-000000") == d


def test_invalid_document_is_written_nowhere_when_enforced(root):
    store = open_store(root / "ws", root / "s.db", validation="enforce")
    d = docs(0)
    d["manifest"]["kind"] = "Task"
    with pytest.raises(InvalidDocumentError, match="kind"):
        store.save(d)
    assert orjson.loads(manifest_file(root, 0).read_bytes()) == docs(0)["manifest"]


def test_invalid_document_is_saved_and_its_reasons_recorded_when_observed(root):
    store = open_(root)
    d = docs(0)
    d["manifest"]["kind"] = "Task"
    saved = store.save(d)
    assert saved.json_written and saved.failure is not None
    assert "/kind" in saved.failure.message
    assert store.load("proj-000000") == d


@pytest.mark.parametrize("key", ["../etc", "", ".hidden", "a/b"])
def test_load_rejects_unsafe_keys(root, key):
    with pytest.raises(sa.UsageError):
        open_(root).load(key)


def test_unknown_key_is_not_found_in_every_phase(root):
    for phase in ("shadow", "read-verify", "sqlite-primary", "json-retired"):
        go_to(root, phase)
        with pytest.raises(DocumentNotFoundError, match="proj-999999"):
            open_(root, read_sample=1.0).load("proj-999999")


# --- read-verify ---------------------------------------------------------------------------


def test_read_verify_serves_json_and_records_matching_reads(root):
    go_to(root, "read-verify")
    store = open_(root, read_sample=1.0)
    for i in range(3):
        assert store.load(f"proj-00000{i}") == docs(i)
    checks = read_checks(reads_log_path(root / "s.db"))
    assert [(c.key, c.matched) for c in checks] == [(f"proj-00000{i}", True) for i in range(3)]
    assert all(c.json_ms >= 0 and c.sqlite_ms is not None and c.sqlite_ms >= 0 for c in checks)


def test_read_sample_zero_verifies_nothing(root):
    go_to(root, "read-verify")
    store = open_(root, read_sample=0.0)
    for _ in range(20):
        store.load("proj-000001")
    assert read_checks(reads_log_path(root / "s.db")) == []


def test_read_verify_catches_an_out_of_band_sql_edit(root):
    """One changed summary in SQLite: the read still returns the JSON, the mismatch is kept."""
    go_to(root, "read-verify")
    sql(root, "UPDATE missions SET description = 'tampered' WHERE mission_uuid = 'proj-000001'")
    store = open_(root, read_sample=1.0)
    assert store.load("proj-000001") == docs(1)
    (check,) = read_checks(reads_log_path(root / "s.db"))
    assert not check.matched
    assert [(f["kind"], f["field"], f["shadow_value"]) for f in check.findings] == [
        ("value_mismatch", "description", "tampered")
    ]


def test_read_verify_never_lets_a_sqlite_failure_reach_the_caller(root):
    go_to(root, "read-verify")
    store = open_(root, read_sample=1.0)
    store.load("proj-000000")
    sql(root, "DROP TABLE session_narrative")
    assert store.load("proj-000001") == docs(1)
    os.unlink(root / "s.db")
    assert store.load("proj-000002") == docs(2)
    checks = read_checks(reads_log_path(root / "s.db"))
    assert [c.matched for c in checks] == [True, False, False]
    assert "session_narrative" in (checks[1].error or "")
    assert checks[2].error is not None and checks[2].sqlite_ms is None


def unit_lock(root: Path, i: int) -> FileLock:
    """The writer's per-unit lock of project i, as DualWriter takes it (another descriptor,
    so it excludes this process's store as it would another process)."""
    return FileLock(str(lock_path(manifest_file(root, i))))


@pytest.mark.parametrize("where", ["argument", "config"])
def test_verified_read_skips_when_the_units_lock_stays_busy(root, where):
    """A held lock: the read serves the JSON, and the verification is recorded as skipped,
    which the gate counts neither as verified nor as a mismatch. The wait is the one set
    by open_store's argument or by the [cutover] table."""
    go_to(root, "read-verify")
    if where == "argument":
        store = open_store(root / "ws", root / "s.db", verify_lock_timeout=0.05,
                           config=Config(cutover={"read_sample": 1.0}))  # fmt: skip
    else:
        store = open_(root, read_sample=1.0, verify_lock_timeout=0.05)
    with unit_lock(root, 1):
        assert store.load("proj-000001") == docs(1)
    assert store.load("proj-000001") == docs(1)
    busy, done = read_checks(reads_log_path(root / "s.db"), include_skipped=True)
    assert (busy.matched, busy.sqlite_ms, busy.findings, busy.error) == (False, None, (), None)
    assert busy.skipped == "the unit's lock stayed busy for 0.05s; not verified"
    assert (done.matched, done.skipped) == (True, None)
    assert read_checks(reads_log_path(root / "s.db")) == [done]


def verified_load(root: Path, key: str) -> dict[str, Any]:
    config = Config(cutover={"read_sample": 1.0})
    with Store(root / "ws", root / "s.db", config=config, verify_lock_timeout=30.0) as store:
        return store.load(key)


def test_verified_read_compares_the_json_and_rows_read_under_the_lock(root):
    """A save holding the lock is waited for: the read returns the saved version and
    compares it with the rows of the same save."""
    go_to(root, "read-verify")
    writer = open_(root)
    d = docs(2)
    d["manifest"]["status"]["message"] = "saved while the reader waited"
    lock = unit_lock(root, 2)
    lock.acquire()
    reader = ThreadPoolExecutor(1).submit(verified_load, root, "proj-000002")
    with pytest.raises(Timeout):  # the save waits for the same lock (held here)
        Store(root / "ws", root / "s.db", lock_timeout=0.05).save(d)
    lock.release()
    writer.save(d)
    served = reader.result(timeout=30)["manifest"]["status"]["message"]
    (check,) = read_checks(reads_log_path(root / "s.db"))
    assert check.matched and check.skipped is None, check
    assert served in (docs(2)["manifest"]["status"]["message"], d["manifest"]["status"]["message"])


def test_save_takes_the_units_lock_before_writing_in_every_phase(root):
    """A save waits for DualWriter's lock of its unit (here: times out) and writes nothing."""
    for phase in ("shadow", "read-verify", "sqlite-primary", "json-retired"):
        go_to(root, phase)
        store = Store(root / "ws", root / "s.db", lock_timeout=0.05)
        d = docs(0)
        d["manifest"]["status"]["message"] = f"blocked in {phase}"
        before = manifest_file(root, 0).read_bytes()
        with unit_lock(root, 0), pytest.raises(Timeout):
            store.save(d)
        assert manifest_file(root, 0).read_bytes() == before
        assert sql(
            root, "SELECT count(*) FROM missions WHERE status_message = ?", f"blocked in {phase}"
        ) == [(0,)]
        saved = store.save(d)  # released: the same save goes through
        assert saved.sqlite_written and saved.phase == phase


# --- sqlite-primary ------------------------------------------------------------------------


def test_sqlite_primary_reads_from_sqlite(root):
    go_to(root, "sqlite-primary")
    manifest_file(root, 1).write_bytes(b'{"not": "what the app saved"}')
    loaded = open_(root).load("proj-000001")
    assert loaded["manifest"] == docs(1)["manifest"]


def test_sqlite_primary_writes_sqlite_then_the_json_backup(root):
    go_to(root, "sqlite-primary")
    store = open_(root)
    d = docs(2)
    d["manifest"]["status"]["message"] = "primary edit"
    saved = store.save(d)
    assert (saved.phase, saved.sqlite_written, saved.json_written) == ("sqlite-primary", 1, 1)
    assert store.load("proj-000002")["manifest"] == d["manifest"]
    assert orjson.loads(manifest_file(root, 2).read_bytes()) == d["manifest"]


def test_sqlite_primary_failure_propagates_and_writes_no_json(root):
    go_to(root, "sqlite-primary")
    fail_mission_writes(root)
    d = docs(0)
    d["manifest"]["status"]["message"] = "never saved"
    with pytest.raises(DatabaseError, match="read-only today"):
        open_(root).save(d)
    assert orjson.loads(manifest_file(root, 0).read_bytes()) == docs(0)["manifest"]


def test_sqlite_primary_json_backup_failure_goes_to_the_ledger(root):
    """A path component that is a file: a failure root cannot bypass."""
    go_to(root, "sqlite-primary")
    store = open_(root)
    folder = root / "ws" / "proj-000001"
    shutil.rmtree(folder)
    folder.write_text("a file where the workspace folder was\n")
    d = docs(1)
    d["manifest"]["status"]["message"] = "only in sqlite"
    saved = store.save(d)
    assert saved.sqlite_written and not saved.json_written and saved.failure is not None
    assert store.ledger.read().entries[-1].key == "proj-000001"
    assert store.load("proj-000001")["manifest"] == d["manifest"]


@pytest.mark.parametrize("phase", ["sqlite-primary", "json-retired"])
def test_database_deleted_while_it_is_the_truth_raises(root, phase):
    go_to(root, phase)
    store = open_(root)
    store.load("proj-000000")
    os.unlink(root / "s.db")
    with pytest.raises(DatabaseError, match=f"unavailable while it is the truth \\({phase}\\)"):
        store.load("proj-000000")
    with pytest.raises(DatabaseError, match="truth"):
        store.save(docs(0))
    with pytest.raises(DatabaseError, match="no such file, and it is the truth"):
        open_(root)  # a restarted application does not get a fresh, empty truth either
    assert not (root / "s.db").exists()


@pytest.mark.parametrize("phase", ["sqlite-primary", "json-retired"])
def test_database_replaced_by_garbage_while_it_is_the_truth_raises(root, phase):
    """An open store whose database file is replaced by one that is not SQLite: load and
    save raise naming the database; the JSON (still on disk) is never served instead."""
    go_to(root, phase)
    store = open_(root)
    assert store.load("proj-000000") == docs(0)
    for suffix in ("", "-wal", "-shm"):
        (root / f"s.db{suffix}").unlink(missing_ok=True)
    (root / "s.db").write_bytes(b"this is not a database" * 100)
    assert manifest_file(root, 0).is_file()
    with pytest.raises(
        DatabaseError, match=f"s.db: unavailable while it is the truth \\({phase}\\)"
    ):
        store.load("proj-000000")
    with pytest.raises(DatabaseError, match="truth"):
        store.save(docs(0))


@pytest.mark.parametrize("phase", ["sqlite-primary", "json-retired"])
def test_database_locked_while_it_is_the_truth_makes_save_raise(root, phase):
    go_to(root, phase)
    store = open_store(root / "ws", root / "s.db", busy_timeout=0.2)
    holder = sqlite3.connect(root / "s.db", isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    try:
        with pytest.raises(DatabaseError, match="locked"):
            store.save(docs(0))
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert store.save(docs(0)).sqlite_written


@pytest.mark.parametrize("phase", ["sqlite-primary", "json-retired"])
def test_database_exclusively_locked_makes_load_raise(root, phase):
    go_to(root, phase)
    store = open_store(root / "ws", root / "s.db", busy_timeout=0.2)
    holder = sqlite3.connect(root / "s.db", isolation_level=None)
    holder.execute("PRAGMA journal_mode = DELETE")
    holder.execute("BEGIN EXCLUSIVE")
    try:
        with pytest.raises(DatabaseError, match="locked"):
            store.load("proj-000000")
    finally:
        holder.execute("ROLLBACK")
        holder.close()


# --- json-retired --------------------------------------------------------------------------


def test_json_retired_writes_sqlite_only(root):
    go_to(root, "json-retired")
    store = open_(root)
    before = manifest_file(root, 0).read_bytes()
    d = docs(0)
    d["manifest"]["status"]["message"] = "retired"
    saved = store.save(d)
    assert (saved.sqlite_written, saved.json_written) == (True, False)
    assert manifest_file(root, 0).read_bytes() == before
    assert store.load("proj-000000")["manifest"] == d["manifest"]


# --- lossless reads in sqlite-primary --------------------------------------------------------

from datetime import datetime, timedelta  # noqa: E402

from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from tests.conftest import examples  # noqa: E402

WORDS = st.text(alphabet="abcdefghij -", min_size=1, max_size=12)


@st.composite
def reference_memory(draw: st.DrawFn, project_id: str) -> dict[str, Any]:
    """A memory grown the way ProjectMemoryManager grows it: sessions appended and numbered
    len(narrative) + 1 before trimming to 50, concepts/concerns/completed phases appended in
    order of discovery (never sorted), intents labelled, naive timestamps."""
    start = datetime(2025, 1, 1) + timedelta(minutes=draw(st.integers(0, 10**6)))
    memory: dict[str, Any] = {
        "_schema_version": "1.0",
        "_created": start.isoformat(),
        "project_id": project_id,
        "narrative": [],
        "domain": {"type": draw(WORDS), "concepts": [], "concerns": []},
        "trajectory": {"phase": "PLANNING", "completed": [], "current_focus": "", "blockers": []},
        "intent_history": [],
    }
    for n in range(draw(st.integers(0, 60))):
        narrative = memory["narrative"]
        narrative.append({
            "session": len(narrative) + 1,
            "summary": draw(WORDS),
            "date": (start + timedelta(hours=n)).isoformat(),
            "phase": draw(st.sampled_from(["PLANNING", "CODING", "UNKNOWN"])),
        })  # fmt: skip
        memory["narrative"] = narrative[-50:]
        for kind in ("concepts", "concerns"):
            word = draw(WORDS)
            if draw(st.booleans()) and word not in memory["domain"][kind]:
                memory["domain"][kind].append(word)
        memory["intent_history"].append({
            "session": len(narrative), "intent": draw(WORDS),
            "confidence": draw(st.sampled_from(["high", "medium"])),
        })  # fmt: skip
        memory["intent_history"] = memory["intent_history"][-100:]
        if draw(st.booleans()):
            memory["trajectory"]["completed"].append(memory["trajectory"]["phase"])
            memory["trajectory"]["phase"] = draw(st.sampled_from(["CODING", "TESTING"]))
    memory["trajectory"]["blockers"] = draw(st.lists(WORDS, max_size=3))
    return memory


@pytest.fixture(scope="module")
def primary(tmp_path_factory: pytest.TempPathFactory) -> Store:
    root = tmp_path_factory.mktemp("primary")
    (root / "ws").mkdir()
    open_store(root / "ws", root / "s.db").close()
    go_to(root, "sqlite-primary")
    return open_(root)


SETTINGS = settings(
    max_examples=examples(40),
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)


@SETTINGS
@given(st.randoms(use_true_random=False))
def test_sqlite_primary_load_returns_the_saved_manifest(primary, rng):
    """Generated manifests (with roadmap, budget, artifacts): load(key) == saved."""
    manifest, _ = make_projects(1, seed=rng.randrange(10**6), sessions=3)[0]
    primary.save({"manifest": manifest})
    assert primary.load(manifest["metadata"]["projectId"]) == {"manifest": manifest}


@SETTINGS
@given(st.randoms(use_true_random=False), st.data())
def test_sqlite_primary_load_returns_what_was_saved(primary, rng, data):
    """Generated manifests with memories grown the reference way: load(key) == saved."""
    manifest, _ = make_projects(1, seed=rng.randrange(10**6), sessions=3)[0]
    memory = data.draw(reference_memory(manifest["metadata"]["projectId"]))
    saved = {"manifest": manifest, "memory": memory}
    primary.save(saved)
    assert primary.load(manifest["metadata"]["projectId"]) == saved


def test_sqlite_primary_load_returns_the_saved_fixtures(primary, vibe_fixtures):
    """Every real manifest the schema accepts comes back equal (legacy ones need upgrade)."""
    kept = 0
    for path in sorted(vibe_fixtures.glob("*project_manifest.json")):
        manifest = orjson.loads(path.read_bytes())
        try:
            primary.save({"manifest": manifest})
        except (InvalidDocumentError, sa.UsageError):
            continue
        kept += 1
        assert primary.load(manifest["metadata"]["projectId"]) == {"manifest": manifest}
    assert kept >= 1


def test_a_corrupt_database_does_not_stop_an_app_whose_truth_is_json(tmp_path):
    (tmp_path / "s.db").write_bytes(b"this is not a database" * 100)
    store = open_store(tmp_path / "ws", tmp_path / "s.db")
    saved = store.save(docs(0))
    assert saved.json_written and not saved.sqlite_written and saved.failure is not None
    assert store.load("proj-000000") == docs(0)
    assert store.phase == "shadow"


def test_a_corrupt_database_while_it_is_the_truth_stops_open_store(root):
    go_to(root, "sqlite-primary")
    (root / "s.db").unlink()
    for suffix in ("-wal", "-shm"):
        (root / f"s.db{suffix}").unlink(missing_ok=True)
    (root / "s.db").write_bytes(b"this is not a database" * 100)
    with pytest.raises(DatabaseError, match="unavailable while it is the truth"):
        open_(root)


@pytest.mark.parametrize("phase", ["shadow", "read-verify", "sqlite-primary"])
def test_one_key_loads_and_saves_in_the_folder_the_reference_named(root, phase):
    """`agency_toolkit/` holding `proj-000001`: load and save by the projectId in every
    phase, and no second folder appears."""
    (root / "ws" / "proj-000001").rename(root / "ws" / "agency_toolkit")
    go_to(root, phase)
    store = open_(root, read_sample=1.0)
    loaded = store.load("proj-000001")
    assert loaded == docs(1)
    loaded["manifest"]["metadata"]["owner"] = "changed@example.com"
    store.save(loaded)
    assert store.load("proj-000001")["manifest"]["metadata"]["owner"] == "changed@example.com"
    assert not (root / "ws" / "proj-000001").exists()
    on_disk = orjson.loads((root / "ws" / "agency_toolkit" / "project_manifest.json").read_bytes())
    assert on_disk["metadata"]["owner"] == "changed@example.com"
    if phase == "read-verify":
        assert [c.matched for c in read_checks(reads_log_path(root / "s.db"))] == [True, True]
