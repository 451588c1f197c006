"""The compare step on its own: a pure function of (expected, actual, entity)."""

from __future__ import annotations

import json

import pytest
from deepdiff import DeepDiff

from shadow_audit.audit.compare import compare_entity, scalar_detail
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
        (f"p{i}", s): (f"sum {i}/{s}", "d", "PLANNING") for i in range(20) for s in range(3)
    }
    actual = dict(expected)
    del actual[("p3", 1)]
    actual[("p7", 2)] = ("changed", "d", "PLANNING")
    actual[("p9", 9)] = ("extra", "d", "PLANNING")
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
