"""The fast projector gives exactly what the reference implementation (iter_rows) gives."""

from __future__ import annotations

import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from shadow_audit.mapping import compile_projector, iter_rows
from shadow_audit.mapping.projection import stored
from shadow_audit.profiles import REFERENCE
from shadow_audit.synth import make_project
from tests.conftest import examples

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**63), 2**63 - 1)
    | st.floats(allow_nan=False)
    | st.text(max_size=5),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3)
    ),
    max_leaves=8,
)


def both(entity, doc):
    fields = entity.compared_fields
    fast = [(k, stored(v)) for k, v in compile_projector(entity, fields)(doc)]
    return fast, list(iter_rows(entity, doc, fields))


@pytest.mark.parametrize("entity", REFERENCE.entities, ids=lambda e: e.table)
def test_generated_documents_project_identically(entity):
    rng = random.Random(5)
    for i in range(50):
        manifest, memory = make_project(i, rng)
        doc = manifest if entity.document == "manifest" else memory
        fast, reference = both(entity, doc)
        assert fast == reference


@settings(max_examples=examples(300), deadline=None)
@given(st.sampled_from(REFERENCE.entities), st.data())
def test_any_shape_projects_identically(entity, data):
    """Schema-invalid shapes too: wrong types, missing keys, containers where scalars go."""
    rng = random.Random(data.draw(st.integers(0, 1000)))
    manifest, memory = make_project(1, rng, sessions=3)
    doc = manifest if entity.document == "manifest" else memory
    # replace one value somewhere along the entity's paths with an arbitrary JSON value
    target = data.draw(
        st.sampled_from(["narrative", "domain", "trajectory", "status", "budget", "metadata"])
    )
    if target in doc:
        if isinstance(doc[target], list) and doc[target] and data.draw(st.booleans()):
            i = data.draw(st.integers(0, len(doc[target]) - 1))
            doc[target][i] = data.draw(json_values)
        elif isinstance(doc[target], dict) and doc[target]:
            key = data.draw(st.sampled_from(sorted(doc[target])))
            doc[target][key] = data.draw(json_values)
        else:
            doc[target] = data.draw(json_values)
    fast, reference = both(entity, doc)
    assert fast == reference
