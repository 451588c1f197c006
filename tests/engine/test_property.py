"""Laws: whatever valid documents are written, the audit is clean; change one field in SQLite
and exactly that field is reported."""

from __future__ import annotations

import random
import sqlite3
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from shadow_audit.dualwrite import DualWriter
from shadow_audit.engine.run import audit
from shadow_audit.profiles import REFERENCE
from shadow_audit.stores.json_store import JsonStore
from shadow_audit.stores.sqlite_shadow import SqliteShadow
from shadow_audit.synth import make_project

text = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=30)
phase = st.sampled_from(["PLANNING", "AWAITING_CODE_GENERATION", "CODING", "PRODUCTION"])
money = st.floats(min_value=0, max_value=1e9, allow_nan=False, allow_infinity=False)


@st.composite
def projects(draw):
    rng = random.Random(draw(st.integers(0, 2**32)))
    manifest, memory = make_project(
        draw(st.integers(0, 999)), rng, sessions=draw(st.integers(1, 4))
    )
    manifest["status"]["projectPhase"] = draw(phase)
    manifest["status"]["message"] = draw(text)
    manifest["metadata"]["description"] = draw(text.filter(bool))
    manifest["budget"]["current_cost_usd"] = draw(money)
    manifest["budget"]["cost_breakdown"] = draw(st.dictionaries(text, money, max_size=3))
    manifest["spec"]["vibe"] = draw(
        st.dictionaries(
            text,
            st.one_of(text, st.integers(-(2**63), 2**63 - 1), st.booleans(), st.none()),
            max_size=4,
        )
    )
    memory["narrative"][0]["summary"] = draw(text)
    memory["domain"]["concepts"] = draw(st.lists(text, max_size=5))
    memory["trajectory"]["blockers"] = draw(st.lists(text, max_size=3))
    if draw(st.booleans()):
        del memory["intent_history"]
    return manifest, memory


COMPARED = [(e.table, f) for e in REFERENCE.entities for f in e.compared_fields]


def other_value(field, current):
    if field.choices:
        return next(c for c in field.choices if c != current)
    if field.type == "real":
        return (current or 0.0) + 1.5
    if field.type == "timestamp":
        return "1999-01-01T00:00:00Z"
    if field.type == "json":
        return '{"changed": true}'
    return f"{current}-changed"


@pytest.mark.slow
@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(projects(), min_size=1, max_size=3, unique_by=lambda p: p[0]["metadata"]["projectId"]),
    st.data(),
)
def test_write_audit_clean_then_one_edit_is_exactly_one_finding(docs, data):
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        writer = DualWriter(JsonStore(root / "src"), SqliteShadow(root / "s.db"))
        for manifest, memory in docs:
            assert writer.save_project(manifest, memory).shadow_ok
        clean = audit(root / "src", root / "s.db")
        assert [f.to_dict() for f in clean.findings] == []

        table, field = data.draw(st.sampled_from(COMPARED))
        conn = sqlite3.connect(root / "s.db")
        rows = conn.execute(f'SELECT id, "{field.column}" FROM "{table}"').fetchall()
        if not rows:
            conn.close()
            return
        row_id, current = data.draw(st.sampled_from(rows))
        conn.execute(
            f'UPDATE "{table}" SET "{field.column}" = ? WHERE id = ?',
            (other_value(field, current), row_id),
        )
        conn.commit()
        conn.close()
        found = audit(root / "src", root / "s.db").findings
        assert len(found) == 1, found
        assert (found[0].kind, found[0].entity, found[0].field) == (
            "value_mismatch",
            table,
            field.column,
        )
