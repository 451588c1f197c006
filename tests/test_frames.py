"""sa.frames: both stores as DataFrames, and the audit's verdict on every cell.

The law: ``frames(...).compare`` and ``audit(...)`` agree finding by finding, on a
store with every finding kind injected and on stores hypothesis drifts at random.
"""

from __future__ import annotations

import json
import math
import shutil
import sqlite3
import tempfile
from collections import Counter
from pathlib import Path
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import shadow_audit as sa
from shadow_audit.config import Config
from shadow_audit.errors import ConfigError, DatabaseError, SourceError
from shadow_audit.profiles import REFERENCE
from tests.conftest import examples, make_store, read_only_file

TABLES = [e.table for e in REFERENCE.entities]
ROW_KINDS = ("missing_in_shadow", "extra_in_shadow")
LOADER_KINDS = ("invalid_source", "duplicate_key")


def canon(value: Any) -> str:
    return json.dumps(value, sort_keys=True, default=repr)


def findings_of_frames(frames: sa.Frames) -> list[tuple[Any, ...]]:
    """What the side-by-side frames say is wrong, in the shape of the audit's findings."""
    out = []
    for table in frames.actual:
        c = frames.compare(table)
        bad = c[~c["equal"]]
        for key, column, src, shd, kind in zip(
            bad["key"],
            bad["column"],
            bad["source_value"],
            bad["shadow_value"],
            bad["kind"],
            strict=True,
        ):
            if kind == "value_mismatch":
                out.append((kind, table, key, column, canon(src), canon(shd)))
            else:
                out.append((kind, table, key))
    return sorted(set(r for r in out if r[0] in ROW_KINDS)) + sorted(
        r for r in out if r[0] == "value_mismatch"
    )


def findings_of_audit(result: sa.AuditResult) -> list[tuple[Any, ...]]:
    rows = sorted((f.kind, f.entity, f.key) for f in result.findings if f.kind in ROW_KINDS)
    cells = sorted(
        (f.kind, f.entity, f.key, f.field, canon(f.source_value), canon(f.shadow_value))
        for f in result.findings
        if f.kind == "value_mismatch"
    )
    return rows + cells


def assert_agree(frames: sa.Frames, result: sa.AuditResult) -> None:
    """frames(...).compare and audit(...) agree finding by finding, count by count."""
    assert findings_of_frames(frames) == findings_of_audit(result)
    assert [p.to_dict() for p in frames.problems] == [
        f.to_dict() for f in result.findings if f.kind in LOADER_KINDS
    ]
    applied: Counter[str] = Counter()
    for table in frames.actual:
        applied.update(frames.compare(table)["normalizer"].dropna().tolist())
    assert dict(applied) == {k: n for k, n in result.normalizers.items() if n}
    rates = frames.match_rates()
    for table, summary in result.summary.items():
        c = frames.compare(table)
        in_both = c[c["kind"].isna() | (c["kind"] == "value_mismatch")]
        assert in_both["key"].nunique() == summary.matched + summary.mismatched
        assert c.loc[c["kind"] == "value_mismatch", "key"].nunique() == summary.mismatched
        assert c.loc[c["kind"] == "missing_in_shadow", "key"].nunique() == summary.missing_in_shadow
        assert c.loc[c["kind"] == "extra_in_shadow", "key"].nunique() == summary.extra_in_shadow
        if table in rates.index.get_level_values("table"):
            assert set(rates.loc[table, "compared"]) == {summary.matched + summary.mismatched}


def every_kind(root: Path):
    """Eight projects with every finding kind and every normalizer at work:
    1 changed owner, 2 deleted narrative rows, 1 extra concept, 1 changed blocker list,
    1 concept row moved to a mission that does not exist (an orphan: extra, and missing
    where it was), 1 unreadable memory and 1 manifest without its fields (invalid_source), a copied
    project folder (duplicate_key in the source), a repeated session number (data now:
    rows are keyed by list position), a
    repeated concern row (duplicate_key in the shadow), float noise, a timestamp in
    another offset, re-ordered JSON and a re-ordered set-like list (equal after
    normalizers)."""
    store = make_store(root, 8)
    store.sql("UPDATE missions SET owner = 'x' WHERE id = 1")
    store.sql("UPDATE missions SET current_cost_usd = current_cost_usd + 1e-13 WHERE id = 2")
    store.sql("UPDATE missions SET created_at = replace(created_at, 'Z', '+00:00') WHERE id = 3")
    store.sql("DELETE FROM session_narrative WHERE id IN (2, 9)")
    store.sql("INSERT INTO domain_concepts (mission_id, concept, timestamp) VALUES (3, 'zz', 't')")
    store.sql("UPDATE domain_concepts SET mission_id = 999 WHERE id = 7")
    store.sql("UPDATE trajectory SET blockers = '[1]' WHERE id = 4")
    memory = store.memory_path("proj-000004")
    doc = json.loads(memory.read_text())
    doc["trajectory"]["blockers"] = ["waiting for review", "flaky CI"]
    memory.write_text(json.dumps(doc))
    store.sql(
        "UPDATE trajectory SET blockers = ? WHERE id = 5", '["flaky CI", "waiting for review"]'
    )
    meta = store.sql("SELECT metadata FROM missions WHERE id = 5")[0][0]
    store.sql(
        "UPDATE missions SET metadata = ? WHERE id = 5",
        json.dumps(dict(reversed(json.loads(meta).items())), indent=2),
    )
    store.memory_path("proj-000005").write_text("{")
    (store.source / "proj-000006" / "project_manifest.json").write_text('{"kind": "Project"}')
    shutil.copytree(store.source / "proj-000007", store.source / "copy-of-7")
    memory = store.memory_path("proj-000002")
    memory.write_text(memory.read_text().replace('"session": 2', '"session": 1', 1))
    store.sql("CREATE TABLE t AS SELECT * FROM domain_concerns")
    store.sql("DROP TABLE domain_concerns")
    store.sql("ALTER TABLE t RENAME TO domain_concerns")
    rest = [r[1] for r in store.sql("PRAGMA table_info(domain_concerns)") if r[1] != "id"]
    store.sql(
        f"INSERT INTO domain_concerns SELECT id + 100, {', '.join(rest)} "
        "FROM domain_concerns WHERE id = 1"
    )
    return store


def test_expected_and_actual_hold_both_stores_key_columns_first(tmp_path):
    store = make_store(tmp_path, 3)
    f = sa.frames(store.source, store.db)
    assert list(f.expected) == TABLES
    assert list(f.actual) == TABLES
    keys = {
        "missions": ["mission_uuid"],
        "session_narrative": ["mission_uuid", REFERENCE.entity("session_narrative").key_column],
        "domain_concepts": ["mission_uuid", "concept"],
        "domain_concerns": ["mission_uuid", "concern"],
        "trajectory": ["mission_uuid"],
    }
    for table, key in keys.items():
        columns = [fld.column for fld in REFERENCE.entity(table).compared_fields]
        assert list(f.expected[table].columns) == [*key, *columns]
        assert list(f.actual[table].columns) == [*key, *columns]
        counted = store.sql(f"SELECT count(*) FROM {table}")[0][0]
        assert len(f.actual[table]) == len(f.expected[table]) == counted
    manifest, memory = store.projects[1]
    missions = f.expected["missions"].set_index("mission_uuid")
    assert missions.loc["proj-000001", "owner"] == manifest["metadata"]["owner"]
    narrative = f.actual["session_narrative"].set_index(["mission_uuid", "session_num"])
    first = memory["narrative"][0]
    assert narrative.loc[("proj-000001", first["session"]), "summary"] == first["summary"]


def test_a_clean_store_is_equal_everywhere(tmp_path):
    store = make_store(tmp_path, 3)
    f = sa.frames(store.source, store.db)
    for table in TABLES:
        c = f.compare(table)
        assert len(c) > 0
        assert c["equal"].all()
        assert c["kind"].isna().all()
        assert (c["source_value"].map(canon) == c["shadow_value"].map(canon)).all()
    rates = f.match_rates()
    assert (rates["match_rate"] == 1.0).all()
    assert (rates["normalized"] == 0).all()
    assert f.problems == ()


def test_compare_and_match_rates_say_what_was_changed(tmp_path):
    """5 projects: 2 owners changed, 1 cost off by float noise, 1 narrative row deleted."""
    store = make_store(tmp_path, 5)
    store.sql("UPDATE missions SET owner = 'mallory' WHERE id IN (2, 4)")
    store.sql("UPDATE missions SET max_cost_usd = max_cost_usd + 1e-13 WHERE id = 1")
    store.sql("DELETE FROM session_narrative WHERE id = 3")
    f = sa.frames(store.source, store.db)
    c = f.compare("missions")
    assert list(c.columns) == [
        "key", "column", "source_value", "shadow_value", "equal", "normalizer", "path", "kind",
    ]  # fmt: skip
    bad = c[~c["equal"]]
    assert bad[["key", "column", "shadow_value", "path", "kind"]].values.tolist() == [
        ["proj-000001", "owner", "mallory", "metadata.owner", "value_mismatch"],
        ["proj-000003", "owner", "mallory", "metadata.owner", "value_mismatch"],
    ]
    noise = c[c["normalizer"].notna()]
    assert noise[["key", "column", "normalizer", "equal"]].values.tolist() == [
        ["proj-000000", "max_cost_usd", "float_tolerance", True]
    ]
    narrative = f.compare("session_narrative")
    gone = narrative[narrative["kind"] == "missing_in_shadow"]
    columns = [fld.column for fld in REFERENCE.entity("session_narrative").compared_fields]
    assert gone["column"].tolist() == columns
    assert gone["shadow_value"].isna().all() and gone["source_value"].notna().all()
    rates = f.match_rates()
    assert rates.loc[("missions", "owner")].to_dict() == {
        "compared": 5, "equal": 3, "normalized": 0, "match_rate": 0.6,
    }  # fmt: skip
    assert rates.loc[("missions", "max_cost_usd"), "normalized"] == 1
    assert rates.loc[("missions", "max_cost_usd"), "match_rate"] == 1.0
    left = store.sql("SELECT count(*) FROM session_narrative")[0][0]
    assert rates.loc[("session_narrative", "summary"), "compared"] == left
    assert set(rates.index.get_level_values("table")) == {
        "missions",
        "session_narrative",
        "trajectory",
    }  # fmt: skip  (tables of keys only have no column to rate)


def test_compare_agrees_with_the_audit_on_every_finding_kind(tmp_path):
    store = every_kind(tmp_path)
    result = sa.audit(store.source, store.db)
    assert {f.kind for f in result.findings} == {
        "missing_in_shadow", "extra_in_shadow", "value_mismatch", "invalid_source",
        "duplicate_key",
    }  # fmt: skip
    assert {k for k, n in result.normalizers.items() if n} == {
        "float_tolerance", "timestamp_instant", "json_canonical", "list_as_set",
    }  # fmt: skip
    f = sa.frames(store.source, store.db)
    assert_agree(f, result)
    # left out of both frames, as the audit leaves them out of the comparison
    assert "proj-000005" not in set(f.expected["session_narrative"]["mission_uuid"])
    assert "proj-000005" not in set(f.actual["session_narrative"]["mission_uuid"])
    assert "proj-000007" not in set(f.expected["missions"]["mission_uuid"])
    orphans = f.compare("domain_concepts").query("kind == 'extra_in_shadow'")["key"]
    assert any(key.startswith("<orphan 999>/") for key in orphans)


def test_compare_agrees_with_the_audit_when_validation_runs_in_a_second_process(tmp_path):
    """Invalid documents found by the schema worker are projected, then left out."""
    store = every_kind(tmp_path)
    result = sa.audit(store.source, store.db, workers=2)
    assert_agree(sa.frames(store.source, store.db), result)


def test_a_table_or_column_the_shadow_lacks(tmp_path):
    """A reference-v2 database lacks this project's extra columns; one table is dropped."""
    store = make_store(tmp_path, 2, reference_v2=True)
    store.sql("DROP TABLE domain_concerns")
    f = sa.frames(store.source, store.db)
    assert f.missing_tables == ("domain_concerns",)
    assert "domain_concerns" not in f.actual
    assert len(f.expected["domain_concerns"]) == sum(
        len(memory["domain"]["concerns"]) for _, memory in store.projects
    )
    with pytest.raises(DatabaseError, match=r"no table 'domain_concerns'"):
        f.compare("domain_concerns")
    result = sa.audit(store.source, store.db)
    assert f.missing_columns == result.coverage.missing_columns
    assert {("missions", "name"), ("trajectory", "intent_history")} <= {
        (m["entity"], m["column"]) for m in f.missing_columns
    }
    assert "name" in f.expected["missions"].columns
    assert "name" not in f.actual["missions"].columns
    assert "name" not in set(f.compare("missions")["column"])
    assert "domain_concerns" not in set(f.match_rates().index.get_level_values("table"))
    assert_agree(f, result)


def test_bad_inputs(tmp_path):
    store = make_store(tmp_path, 1)
    with pytest.raises(SourceError, match="nosuch"):
        sa.frames(tmp_path / "nosuch", store.db)
    with pytest.raises(DatabaseError, match=r"nosuch\.db"):
        sa.frames(store.source, tmp_path / "nosuch.db")
    notadb = tmp_path / "notadb.db"
    notadb.write_text("this is not a database")
    with pytest.raises(DatabaseError, match=r"notadb\.db"):
        sa.frames(store.source, notadb)
    f = sa.frames(store.source, store.db)
    with pytest.raises(ConfigError, match="no table 'nosuch'"):
        f.compare("nosuch")
    with pytest.raises(KeyError):
        f.expected["nosuch"]


def test_the_shadow_is_only_read(tmp_path):
    store = make_store(tmp_path, 2)
    store.sql("UPDATE missions SET owner = 'x' WHERE id = 1")
    before = store.db.read_bytes()
    with read_only_file(store.db):
        f = sa.frames(store.source, store.db)
        assert len(f.actual["missions"]) == 2
    assert store.db.read_bytes() == before


def test_a_config_with_tolerance_and_no_validation_is_used(tmp_path):
    store = make_store(tmp_path, 2)
    store.sql("UPDATE missions SET max_cost_usd = max_cost_usd + 0.004")
    (store.source / "proj-000001" / "project_manifest.json").write_text('{"kind": "Project"}')
    config = tmp_path / "shadow-audit.toml"
    config.write_text('[tolerances]\n"missions.max_cost_usd" = { abs = 0.01 }\n')
    loaded = sa.load_config(config)
    f = sa.frames(store.source, store.db, config=loaded)
    assert f.compare("missions")["equal"].all()
    assert [p.kind for p in f.problems] == ["invalid_source"]
    unchecked = sa.frames(store.source, store.db, config=Config(validate=False))
    assert unchecked.problems and "no document key" in str(unchecked.problems[0].detail)


# --- the law under random drift -------------------------------------------------------

COMPARED = [(e.table, fld) for e in REFERENCE.entities for fld in e.compared_fields]
NEW_KEY = {
    "missions": "mission_uuid || '-x'",
    "session_narrative": "session_num + 1000",
    "domain_concepts": "concept || '-x'",
    "domain_concerns": "concern || '-x'",
    "trajectory": None,
}
values = st.one_of(
    st.none(),
    st.text(max_size=8),
    st.integers(-3, 3),
    st.floats(allow_nan=False, allow_infinity=False, width=32),
    st.sampled_from(["[]", "{}", '{"b": 1, "a": 2}', "2025-01-01T00:00:00+01:00", "PLANNING"]),
)
drift = st.one_of(
    st.tuples(st.just("set"), st.sampled_from(COMPARED), st.integers(0, 99), values),
    st.tuples(st.just("noise"), st.sampled_from(COMPARED), st.integers(0, 99)),
    st.tuples(st.just("delete"), st.sampled_from(TABLES), st.integers(0, 99)),
    st.tuples(st.just("extra"), st.sampled_from(TABLES[:-1]), st.integers(0, 99)),
    st.tuples(st.just("orphan"), st.sampled_from(TABLES[1:]), st.integers(0, 99)),
    st.tuples(st.just("source"), st.integers(0, 2), st.sampled_from(["edit", "drop", "break"])),
)


def _noisy(field: Any, value: Any) -> Any:
    """The same value, written differently: what the normalizers are for."""
    if value is None:
        return value
    if field.type == "real" and isinstance(value, float):
        return value * (1 + 1e-15) if value else 1e-300
    if field.type == "timestamp" and isinstance(value, str):
        return value.replace("Z", "+00:00")
    if isinstance(value, str) and value[:1] in "[{":
        parsed = json.loads(value)
        if isinstance(parsed, list):
            return json.dumps(list(reversed(parsed)), indent=1)
        return json.dumps(dict(reversed(parsed.items())), indent=2)
    return value


def apply(root: Path, op: tuple[Any, ...]) -> None:
    conn = sqlite3.connect(root / "shadow.db")
    try:
        if op[0] in ("set", "noise"):
            (table, field), i = op[1], op[2]
            rows = conn.execute(f'SELECT id, "{field.column}" FROM {table} ORDER BY id').fetchall()
            if not rows:  # every row deleted by an earlier drift
                return
            row_id, current = rows[i % len(rows)]
            value = op[3] if op[0] == "set" else _noisy(field, current)
            conn.execute(f'UPDATE {table} SET "{field.column}" = ? WHERE id = ?', (value, row_id))
        elif op[0] == "delete":
            ids = [r[0] for r in conn.execute(f"SELECT id FROM {op[1]} ORDER BY id")]
            conn.execute(
                f"DELETE FROM {op[1]} WHERE id = ?", (ids[op[2] % len(ids)] if ids else None,)
            )
        elif op[0] == "orphan":
            ids = [r[0] for r in conn.execute(f"SELECT id FROM {op[1]} ORDER BY id")]
            conn.execute(
                f"UPDATE {op[1]} SET mission_id = 999 WHERE id = ?",
                (ids[op[2] % len(ids)] if ids else None,),
            )
        elif op[0] == "extra":
            table = op[1]
            columns = [r[1] for r in conn.execute(f"PRAGMA table_info({table})") if r[1] != "id"]
            key = REFERENCE.entity(table).key_column
            chosen = [NEW_KEY[table] if c == key else c for c in columns]
            ids = [r[0] for r in conn.execute(f"SELECT id FROM {table} ORDER BY id")]
            conn.execute(
                f"INSERT INTO {table} ({', '.join(columns)}) "
                f"SELECT {', '.join(chosen)} FROM {table} WHERE id = ?",
                (ids[op[2] % len(ids)] if ids else None,),
            )
        else:
            memory = root / "workspaces" / f"proj-{op[1]:06d}" / ".vibe" / "project_memory.json"
            doc = orjson.loads(memory.read_bytes())
            if op[2] == "edit":
                doc["narrative"][-1]["summary"] += " (edited)"
            elif op[2] == "drop":
                doc["domain"]["concepts"] = doc["domain"]["concepts"][1:]
            else:
                doc["narrative"][0]["session"] = "one"
            memory.write_bytes(orjson.dumps(doc))
        conn.commit()
    except sqlite3.IntegrityError:  # a CHECK or UNIQUE said no: this drift cannot happen
        conn.rollback()
    finally:
        conn.close()


@pytest.fixture(scope="module")
def template(tmp_path_factory):
    return make_store(tmp_path_factory.mktemp("template"), 3).root


@settings(
    max_examples=examples(30),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(st.lists(drift, min_size=1, max_size=4))
def test_compare_agrees_with_the_audit_under_any_drift(template, ops):
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "store"
        shutil.copytree(template, root)
        for op in ops:
            apply(root, op)
        source, db = root / "workspaces", root / "shadow.db"
        assert_agree(sa.frames(source, db), sa.audit(source, db))


def test_match_rate_is_nan_when_no_row_is_in_both_stores(tmp_path):
    store = make_store(tmp_path, 1)
    store.sql("DELETE FROM session_narrative")
    rates = sa.frames(store.source, store.db).match_rates()
    assert rates.loc[("session_narrative", "summary"), "compared"] == 0
    assert math.isnan(rates.loc[("session_narrative", "summary"), "match_rate"])


def test_repr_stays_short_whatever_the_store_holds(tmp_path):
    store = make_store(tmp_path, 3)
    for pid in ("proj-000000", "proj-000001"):
        store.manifest_path(pid).write_text("{")
    text = repr(sa.frames(store.source, store.db))
    assert "problems=2" in text and len(text) < 400
