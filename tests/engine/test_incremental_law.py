"""Law: after any sequence of writer saves, out-of-band JSON edits and deletions and
out-of-band SQL UPDATE / DELETE / INSERT, an incremental audit finds what a full audit
finds (kind, entity, key, field, values), with the same summary and coverage, run after
run.

The documents are grown the reference way (``make_store``: ``synth.make_projects``) and
saved by the real ``DualWriter``; the out-of-band edits go through plain file writes and
a plain ``sqlite3`` connection, as any other tool would make them.
"""

from __future__ import annotations

import copy
import json
import sqlite3
import tempfile
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from shadow_audit.engine.findings import AuditResult
from shadow_audit.engine.run import audit
from tests.conftest import Store, make_store

N = 4
PIDS = [f"proj-{i:06d}" for i in range(N)]
text = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=12)


def verdict(result: AuditResult) -> list[tuple[str, ...]]:
    """What the law compares: every finding's identity and values, in a fixed order."""
    return sorted(
        (
            f.kind,
            f.entity,
            f.key,
            f.field or "",
            json.dumps(f.source_value, sort_keys=True, default=repr),
            json.dumps(f.shadow_value, sort_keys=True, default=repr),
        )
        for f in result.findings
    )


def check_law(store: Store, state: Path) -> AuditResult:
    """Run an incremental audit and a full one; they must agree."""
    inc = audit(store.source, store.db, incremental=True, state=state)
    full = audit(store.source, store.db)
    assert verdict(inc) == verdict(full)
    assert inc.summary == full.summary
    assert inc.coverage == full.coverage
    assert inc.documents == full.documents
    assert inc.normalizers == full.normalizers
    return inc


def _save(store: Store, i: int, word: str) -> None:
    manifest, memory = copy.deepcopy(store.projects[i])
    manifest["status"]["message"] = word
    memory["domain"]["concepts"].append(f"c-{word}")
    memory["narrative"].append(dict(memory["narrative"][-1], summary=word))
    memory["narrative"][-1]["session"] = len(memory["narrative"])
    store.projects[i] = (manifest, memory)
    store.writer.save_project(manifest, memory)


def _edit_json(store: Store, i: int, word: str) -> None:
    path = store.manifest_path(PIDS[i])
    if not path.exists():
        return
    try:
        doc = json.loads(path.read_bytes())
        doc["metadata"]["owner"] = word or "x"
        path.write_text(json.dumps(doc))
    except (ValueError, KeyError, TypeError):
        path.write_text("{}")


def _break_json(store: Store, i: int) -> None:
    path = store.memory_path(PIDS[i])
    if path.exists():
        path.write_text('{"narrative": [')


def _delete_json(store: Store, i: int, which: str) -> None:
    path = store.manifest_path(PIDS[i]) if which == "manifest" else store.memory_path(PIDS[i])
    path.unlink(missing_ok=True)


def _sql(store: Store, statement: str, *params: Any) -> None:
    conn = sqlite3.connect(store.db)  # a plain client: foreign keys off, no cascade
    try:
        conn.execute(statement, params)
        conn.commit()
    finally:
        conn.close()


def _sql_update(store: Store, i: int, word: str) -> None:
    _sql(store, "UPDATE missions SET owner = ? WHERE mission_uuid = ?", word, PIDS[i])
    _sql(
        store,
        "UPDATE domain_concepts SET concept = concept || ? WHERE id = "
        "(SELECT min(c.id) FROM domain_concepts c JOIN missions m ON m.id = c.mission_id "
        "WHERE m.mission_uuid = ?)",
        word,
        PIDS[i],
    )


def _sql_delete(store: Store, i: int, table: str) -> None:
    if table == "missions":  # its child rows stay behind: orphans
        _sql(store, "DELETE FROM missions WHERE mission_uuid = ?", PIDS[i])
        return
    _sql(
        store,
        f"DELETE FROM {table} WHERE id = (SELECT min(c.id) FROM {table} c "
        "JOIN missions m ON m.id = c.mission_id WHERE m.mission_uuid = ?)",
        PIDS[i],
    )


def _sql_insert(store: Store, i: int, word: str) -> None:
    if i == 0:  # a mission the source does not have
        _sql(
            store,
            "INSERT OR IGNORE INTO missions (mission_uuid, phase, status, created_at, "
            "updated_at) VALUES (?, 'PLANNING', 'in_progress', '2025-01-01', '2025-01-01')",
            f"ghost-{word}",
        )
        return
    _sql(
        store,
        "INSERT OR IGNORE INTO domain_concerns (mission_id, concern, position, timestamp) "
        "SELECT id, ?, 99, 'now' FROM missions WHERE mission_uuid = ?",
        f"extra-{word}",
        PIDS[i],
    )


index = st.integers(0, N - 1)
operations = st.one_of(
    st.tuples(st.just("save"), index, text),
    st.tuples(st.just("edit_json"), index, text),
    st.tuples(st.just("break_json"), index),
    st.tuples(st.just("delete_json"), index, st.sampled_from(["manifest", "memory"])),
    st.tuples(st.just("sql_update"), index, text),
    st.tuples(
        st.just("sql_delete"),
        index,
        st.sampled_from(["missions", "session_narrative", "domain_concepts", "trajectory"]),
    ),
    st.tuples(st.just("sql_insert"), index, text),
    st.tuples(st.just("audit")),
)
APPLY = {
    "save": _save,
    "edit_json": _edit_json,
    "break_json": _break_json,
    "delete_json": _delete_json,
    "sql_update": _sql_update,
    "sql_delete": _sql_delete,
    "sql_insert": _sql_insert,
}


@pytest.mark.slow
@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(operations, min_size=1, max_size=14))
def test_incremental_audits_find_what_full_audits_find(steps):
    with tempfile.TemporaryDirectory() as tmp:
        store = make_store(Path(tmp), N)
        state = Path(tmp) / "out" / "state.db"
        check_law(store, state)  # the first run is full: it writes the state
        for step in [*steps, ("audit",)]:
            if step[0] == "audit":
                check_law(store, state)
            else:
                APPLY[step[0]](store, *step[1:])


def test_a_fixed_sequence_keeps_the_law_run_after_run(tmp_path):
    """The law's quick form: one of each change, with a run after each."""
    store = make_store(tmp_path, N)
    state = tmp_path / "state.db"
    assert check_law(store, state).mode == "full"
    steps: list[tuple[Any, ...]] = [
        ("save", 1, "again"),
        ("sql_update", 2, "ops"),
        ("edit_json", 3, "someone"),
        ("sql_insert", 1, "more"),
        ("sql_delete", 3, "domain_concepts"),
        ("break_json", 2),
        ("delete_json", 1, "memory"),
        ("sql_insert", 0, "ghost"),
        ("delete_json", 0, "manifest"),
        ("save", 2, "repaired"),
    ]
    modes = []
    for name, *args in steps:
        APPLY[name](store, *args)
        modes.append(check_law(store, state).mode)
    assert modes == ["incremental"] * len(steps)
    # orphans (child rows whose mission is deleted) are judged across units: a full run
    APPLY["sql_delete"](store, 1, "missions")
    run = check_law(store, state)
    assert run.mode == "full"
    assert run.incremental is not None and "orphan" in (run.incremental.fallback or "")
    assert check_law(store, state).mode == "incremental"
