"""The compare step on its own: a pure function of (expected, actual, entity)."""

from __future__ import annotations

import json

import pytest
from deepdiff import DeepDiff

from shadow_audit.engine.compare import compare_entity, scalar_detail
from shadow_audit.profiles import REFERENCE


@pytest.mark.parametrize(
    ("old", "new"),
    [(None, "x"), (1, "1"), ("a", "b"), (1.5, 2.5), (1, 2.0), (True, 1), ("x", None), (0, False)],
)
def test_scalar_detail_is_what_deepdiff_says(old, new):
    assert scalar_detail(old, new) == json.loads(DeepDiff(old, new).to_json())


def test_partitions_add_up_to_the_whole():
    """Run per key partition, the counts and findings are those of one run over everything."""
    entity = REFERENCE.entity("session_narrative")
    fields = entity.compared_fields
    expected = {
        (f"p{i}", s): (s + 1, f"sum {i}/{s}", "d", "PLANNING") for i in range(20) for s in range(3)
    }
    actual = dict(expected)
    del actual[("p3", 1)]
    actual[("p7", 2)] = (3, "changed", "d", "PLANNING")
    actual[("p9", 9)] = (10, "extra", "d", "PLANNING")
    whole = compare_entity(entity, fields, expected, actual)
    parts = [
        compare_entity(
            entity,
            fields,
            {k: v for k, v in expected.items() if hash(k[0]) % 3 == p},
            {k: v for k, v in actual.items() if hash(k[0]) % 3 == p},
        )
        for p in range(3)
    ]
    for name in [
        "source_rows",
        "shadow_rows",
        "matched",
        "mismatched",
        "missing_in_shadow",
        "extra_in_shadow",
    ]:
        assert getattr(whole.summary, name) == sum(getattr(p.summary, name) for p in parts)
    assert sorted(f.key for f in whole.findings) == sorted(f.key for p in parts for f in p.findings)
    assert {(f.kind, f.key) for f in whole.findings} == {
        ("missing_in_shadow", "p3/1"),
        ("value_mismatch", "p7/2"),
        ("extra_in_shadow", "p9/9"),
    }


def test_streaming_compare_equals_compare_over_materialized_rows(tmp_path):
    """The audit compares each document as it is read; the result is the same as building
    every expected row first (drift, invalid and duplicate documents, duplicate rows)."""
    import shutil

    from shadow_audit.engine.run import audit
    from tests.conftest import make_store

    store = make_store(tmp_path, 8)
    store.sql("UPDATE missions SET owner = 'x' WHERE id = 1")
    store.sql("DELETE FROM session_narrative WHERE id IN (2, 9)")
    store.sql("INSERT INTO domain_concepts (mission_id, concept, timestamp) VALUES (3, 'zz', 't')")
    store.sql("UPDATE trajectory SET blockers = '[1]' WHERE id = 4")
    store.memory_path("proj-000005").write_text("{")
    (store.source / "proj-000006" / "project_manifest.json").write_text('{"kind": "Project"}')
    shutil.copytree(store.source / "proj-000007", store.source / "copy-of-7")
    memory = store.memory_path("proj-000002")
    memory.write_text(memory.read_text().replace('"session": 2', '"session": 1', 1))
    store.sql("CREATE TABLE t AS SELECT * FROM domain_concerns")
    store.sql("DROP TABLE domain_concerns")
    store.sql("ALTER TABLE t RENAME TO domain_concerns")
    store.sql(
        "INSERT INTO domain_concerns SELECT id + 100, mission_id, concern, timestamp, position FROM domain_concerns WHERE id = 1"
    )
    streamed = audit(store.source, store.db, stream=True)
    built = audit(store.source, store.db, stream=False)
    assert [f.to_dict() for f in streamed.findings] == [f.to_dict() for f in built.findings]
    assert {t: s.to_dict() for t, s in streamed.summary.items()} == {
        t: s.to_dict() for t, s in built.summary.items()
    }
    assert streamed.normalizers == built.normalizers
    assert len({f.kind for f in streamed.findings}) == 5


def test_frames_compare_like_rows():
    """compare_frames (vectorized over DataFrames) finds what compare_entity finds."""
    import pandas as pd

    from shadow_audit.engine.compare import compare_frames

    entity = REFERENCE.entity("session_narrative")
    fields = entity.compared_fields
    expected = {
        (f"p{i}", s): (s + 1, f"sum {i}/{s}", None if s == 2 else "d", "PLANNING")
        for i in range(30)
        for s in range(3)
    }
    actual = dict(expected)
    del actual[("p3", 1)]
    actual[("p7", 2)] = (3, "changed", None, "PLANNING")
    actual[("p8", 0)] = (1, "sum 8/0", "d2", "PLANNING")
    actual[("p9", 9)] = (10, "extra", "d", "PLANNING")

    def frame(rows):
        return pd.DataFrame(
            [(*k, *v) for k, v in rows.items()],
            columns=["mission", "position", "session_num", "summary", "date", "phase"],
        )

    by_rows = compare_entity(entity, fields, expected, actual)
    by_frames = compare_frames(
        entity, fields, frame(expected), frame(actual), keys=["mission", "position"]
    )
    assert [f.to_dict() for f in by_frames.findings] == [f.to_dict() for f in by_rows.findings]
    assert by_frames.summary == by_rows.summary
