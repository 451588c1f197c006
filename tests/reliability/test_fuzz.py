"""Fuzzing: documents generated from the JSON Schemas go through validate -> write -> audit and
come out GREEN; arbitrary bytes as source files are invalid_source, never a crash; arbitrary
single-cell edits of the database are each reported."""

from __future__ import annotations

import sqlite3
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from shadow_audit.dualwrite import DualWriter
from shadow_audit.engine.run import audit
from shadow_audit.profiles import REFERENCE
from shadow_audit.stores.json_store import JsonStore
from shadow_audit.stores.sqlite_shadow import SqliteShadow
from shadow_audit.validation import load_schema, validate_document
from tests.conftest import make_store
from tests.reliability.schema_strategies import strategy

FUZZ = settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))
manifests = strategy(load_schema("manifest"))
memories = strategy(load_schema("memory"))


@pytest.mark.slow
@FUZZ
@given(manifests, st.one_of(st.none(), memories))
def test_schema_generated_documents_write_and_audit_green(manifest, memory):
    assume(validate_document(manifest, "manifest") == [])
    pid = manifest["metadata"]["projectId"]
    if memory is not None:
        memory["project_id"] = pid
        sessions = [n["session"] for n in memory["narrative"]]
        assume(len(set(sessions)) == len(sessions))  # the shadow keys narrative by session
        assume(validate_document(memory, "memory") == [])
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        writer = DualWriter(JsonStore(root / "src"), SqliteShadow(root / "s.db"))
        try:
            result = writer.save_project(manifest, memory)
        except Exception as exc:  # only refusals that name what is wrong are acceptable
            assert "cannot be stored exactly" in str(exc), exc
            return
        assert result.shadow_ok, result.failure
        found = audit(root / "src", root / "s.db")
        assert [f.to_dict() for f in found.findings] == []


@pytest.mark.slow
@FUZZ
@given(st.binary(max_size=400), st.binary(max_size=400))
def test_arbitrary_bytes_as_source_files_are_invalid_source(manifest_bytes, memory_bytes):
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        SqliteShadow(root / "s.db")
        folder = root / "src" / "ws"
        folder.mkdir(parents=True)
        (folder / "project_manifest.json").write_bytes(manifest_bytes)
        (folder / "project_memory.json").write_bytes(memory_bytes)
        result = audit(root / "src", root / "s.db")
        assert {f.kind for f in result.findings} == {"invalid_source"}


VALUE_COLUMNS = [(e.table, f.column) for e in REFERENCE.entities for f in e.compared_fields]
cells = st.one_of(
    st.none(),
    st.text(min_size=1, max_size=20).map(lambda s: "§" + s),
    st.integers(-(2**40), 2**40).map(lambda n: n * 7 + 100_003),
    st.floats(allow_nan=False, allow_infinity=False, min_value=-1e6, max_value=1e6).map(
        lambda x: x + 1e7
    ),
    st.binary(min_size=1, max_size=8),
)


@pytest.mark.slow
@settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
@given(st.sampled_from(VALUE_COLUMNS), cells, st.data())
def test_any_single_cell_edit_is_reported(column, value, data):
    table, name = column
    with tempfile.TemporaryDirectory() as tmp:
        store = make_store(Path(tmp), 3)
        conn = sqlite3.connect(store.db)
        rows = conn.execute(f'SELECT id, "{name}" FROM "{table}"').fetchall()
        row_id, current = data.draw(st.sampled_from(rows))
        assume(current is not None or value is not None)
        try:
            conn.execute(f'UPDATE "{table}" SET "{name}" = ? WHERE id = ?', (value, row_id))
            conn.commit()
        except sqlite3.IntegrityError:  # NOT NULL / CHECK: the database itself refuses the edit
            return
        finally:
            conn.close()
        found = audit(store.source, store.db).findings
        assert [(f.kind, f.entity, f.field) for f in found] == [("value_mismatch", table, name)]
