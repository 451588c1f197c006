"""`shadow-audit demo --cutover`: the whole Phase 2 journey on a simulated clock, told step by
step with each step's evidence."""

from __future__ import annotations

import dataclasses
import shutil
import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path

from shadow_audit.cli import EXIT_FAIL, EXIT_OK
from shadow_audit.config import Config
from shadow_audit.cutover import advance, cutover_status, rollback
from shadow_audit.engine.run import audit
from shadow_audit.errors import UsageError
from shadow_audit.readcheck import read_checks, reads_log_path
from shadow_audit.repair import repair
from shadow_audit.report.history import History
from shadow_audit.store import Store, open_store
from shadow_audit.synth import make_projects
from shadow_audit.text import plural


class Clock:
    """The demo's simulated time: starts three weeks ago, moves only when told."""

    def __init__(self) -> None:
        self.now = datetime.now(UTC).replace(microsecond=0) - timedelta(days=21)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> datetime:
        self.now += timedelta(**delta)
        return self.now


def _stamp(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


def _reasons(decision: object) -> None:
    for r in getattr(decision, "reasons", ()):
        print(f"     {'pass' if r.passed else 'FAIL'}  {r.check}: {r.message}")


def _moved(moved: bool) -> str:
    return "moved" if moved else "not moved"


def run_cutover_demo(*, directory: Path, projects: int, seed: int) -> int:
    """The journey: green days, gate, read-verify, a caught SQL edit, sqlite-primary, drill.

    Args:
        directory: a fresh folder, or one a previous demo made.
        projects: how many projects to generate (at least 5).
        seed: the random seed of the generated projects and the read sampling.

    Returns:
        The exit code.
    """
    from shadow_audit.demo import fresh_folder

    if projects < 5:
        raise UsageError("--projects must be at least 5")
    root = directory
    fresh_folder(root)
    source, db = root / "workspaces", root / ".vibe" / "state" / "vibe_agency.db"
    history = History(root / "reports" / "history.db")
    clock = Clock()
    config = Config(cutover={"read_sample": 1.0, "min_verified_reads": projects})
    store = open_store(source, db, config=config, clock=clock, seed=seed)
    generated = make_projects(projects, seed=seed, sessions=6, concepts=4, concerns=2)
    for manifest, memory in generated:
        store.save({"manifest": manifest, "memory": memory})
    keys = [m["metadata"]["projectId"] for m, _ in generated]
    print(f"1. {len(keys)} projects saved through open_store in phase {store.phase}")
    print(f"   JSON: {source}   SQLite: {db}")

    def audit_day() -> str:
        result = audit(source, db, config=config)
        start = clock()
        book = dataclasses.replace(
            result, started_at=_stamp(start), finished_at=_stamp(start + timedelta(seconds=20))
        )
        history.record(book)
        return f"{result.status} (truth: {result.truth}, {len(result.findings)} findings)"

    print("2. a scheduled audit every day for seven days: eight runs (simulated clock)")
    for day in range(8):
        print(f"   {clock().date()}  audit {audit_day()}")
        if day < 7:
            clock.advance(days=1)
    clock.advance(hours=1)
    print("3. the gate for shadow -> read-verify")
    outcome = advance(source, db, history=history.path, config=config, now=clock())
    print(f"   {outcome.decision.verdict if outcome.decision else '?'}; {_moved(outcome.moved)}")
    _reasons(outcome.decision)
    print("4. read-verify: the application reads; every read is also rebuilt from SQLite")
    read_all(store, keys)
    checks = read_checks(reads_log_path(db))
    bad = [c for c in checks if not c.matched]
    print(f"   {len(keys)} reads served from JSON; {len(checks)} verified, {len(bad)} mismatched")
    print("5. an out-of-band SQL edit, caught by a read")
    victim = keys[2]
    with sqlite3.connect(db) as conn:
        conn.execute(
            "UPDATE missions SET owner = 'dba@example.com' WHERE mission_uuid = ?", (victim,)
        )
    conn.close()
    clock.advance(hours=1)
    served = store.load(victim)
    last = read_checks(reads_log_path(db))[-1]
    print(f"   read {victim}: served owner {served['manifest']['metadata']['owner']!r} (JSON)")
    for f in last.findings:
        print(f"   mismatch recorded: {f['kind']} {f['entity']}.{f['field']}: "
              f"JSON {f['source_value']!r}, SQLite {f['shadow_value']!r}")  # fmt: skip
    refused = advance(source, db, history=history.path, config=config, now=clock())
    print(f"   advance to sqlite-primary: {refused.decision.verdict if refused.decision else '?'}")
    _reasons(refused.decision)
    fixed = repair(source, db, config=config, execute=True, out=root / "reports")
    touched = ", ".join(fixed.plan.sync)
    print(f"   repair (JSON wins): {plural(len(fixed.plan.actions), 'row operation')} on {touched}")
    clock.advance(hours=1)
    seen = len(read_checks(reads_log_path(db)))
    read_all(store, keys)
    again = read_checks(reads_log_path(db))[seen:]
    bad = [c for c in again if not c.matched]
    print(f"   {len(keys)} more reads: {len(again)} verified, {len(bad)} mismatched")
    clock.advance(days=1)
    print(f"   {clock().date()}  audit {audit_day()}")
    print("6. the gate for read-verify -> sqlite-primary")
    outcome = advance(source, db, history=history.path, config=config, now=clock())
    print(f"   {outcome.decision.verdict if outcome.decision else '?'}; {_moved(outcome.moved)}")
    _reasons(outcome.decision)
    print(f"   the application now reads from SQLite: phase {store.phase}")
    ok = outcome.moved and drill(store, root, source, db, keys, clock, config)
    print("8. cutover status")
    status = cutover_status(db)
    print(f"   phase: {status.phase}")
    for t in status.transitions:
        print(
            f"   {t.at}  {t.from_phase} -> {t.to_phase}  ({t.evidence.get('verdict', 'rollback')})"
        )
    return EXIT_OK if ok else EXIT_FAIL


def read_all(store: Store, keys: list[str]) -> None:
    for key in keys:
        store.load(key)


def drill(
    store: Store, root: Path, source: Path, db: Path, keys: list[str], clock: Clock, config: Config
) -> bool:
    """Edits in sqlite-primary (one JSON backup failing), the reverse audit, the rollback."""
    print("7. rollback drill")
    edits = []
    for n, key in enumerate(keys[:3]):
        docs = store.load(key)
        docs["manifest"]["status"]["message"] = f"edited in sqlite-primary #{n}"
        edits.append(docs)
    blocked = source / keys[1]
    print(f"   staged: {blocked} replaced by a file, so its JSON backup fails (the warnings)")
    shutil.rmtree(blocked)
    blocked.write_text("a file where the folder was: the JSON backup cannot be written\n")
    for docs in edits:
        saved = store.save(docs)
        note = (
            ""
            if saved.json_written
            else " (JSON backup failed, as staged: "
            + ("recorded in the failure ledger)" if saved.failure is not None else "not recorded!)")
        )
        print(f"   saved {saved.key} under {saved.phase}{note}")
    result = audit(source, db, config=config)
    kinds = sorted({f"{f.kind} {f.key.split('/')[0]}" for f in result.findings})
    print(f"   reverse audit: {result.status} (truth: {result.truth}): {', '.join(kinds)}")
    print("     (with SQLite the truth, the audit's 'shadow' is the JSON copy)")
    blocked.unlink()
    clock.advance(hours=1)
    outcome = rollback(source, db, config=config, reason="drill", now=clock())
    exported = outcome.exported
    print(f"   rollback {outcome.from_phase} -> {outcome.to_phase}: JSON rewritten from SQLite "
          f"({plural(exported.written if exported else 0, 'file')} written)")  # fmt: skip
    after = audit(source, db, config=config)
    present = all(store.load(d["manifest"]["metadata"]["projectId"])["manifest"] == d["manifest"]
                  for d in edits)  # fmt: skip
    print(f"   audit: {after.status} (truth: {after.truth}); "
          f"every edit in the JSON: {'yes' if present else 'NO'}")  # fmt: skip
    return after.status == "GREEN" and present
