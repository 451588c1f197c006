"""Law tests over generated legacy manifests: a current manifest made legacy the ways
the reference's history shows, in random combinations and with random unknown keys.
Upgraded with a zone, every one becomes valid, keeps every leaf, and a second upgrade
changes nothing; without a zone, exactly those with naive timestamps are refused."""

from __future__ import annotations

import copy
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from shadow_audit.synth import make_projects
from shadow_audit.upgrade import StepContext, parse_timezone, upgrade_document
from shadow_audit.upgrade.leaves import unaccounted_leaves
from shadow_audit.validation import load_schema, validate_document
from tests.conftest import examples
from tests.reliability.schema_strategies import ANY_JSON

BASES = [m for m, _ in make_projects(4, seed=21)]
SCHEMA = load_schema("manifest")
PROPS = SCHEMA["properties"]
PLACES: dict[tuple[str, ...], set[str]] = {
    (): set(PROPS),
    ("metadata",): set(PROPS["metadata"]["properties"]) | {"updatedAt"},
    ("spec",): set(PROPS["spec"]["properties"]),
    ("status",): set(PROPS["status"]["properties"]),
    ("artifacts", "planning", "feature_spec"): set(SCHEMA["$defs"]["artifact"]["properties"]),
}
ZONE = StepContext(unit="ws", timezone=parse_timezone("America/New_York"))


@st.composite
def legacy_manifests(draw: st.DrawFn) -> tuple[dict[str, Any], bool]:
    doc = copy.deepcopy(draw(st.sampled_from(BASES)))
    if draw(st.booleans()):
        doc["status"]["planningSubState"] = None
    if draw(st.booleans()):
        doc["metadata"]["updatedAt"] = doc["metadata"].pop("lastUpdatedAt")
    if draw(st.booleans()):
        doc["artifacts"]["planning"]["feature_spec"]["ref"] = ""
    for key in draw(st.sets(st.sampled_from(["current_cost_usd", "alert_threshold"]))):
        del doc["budget"][key]
    naive = draw(st.booleans())
    if naive:
        doc["metadata"]["createdAt"] = doc["metadata"]["createdAt"].rstrip("Z")
    for place in draw(st.lists(st.sampled_from(sorted(PLACES)), max_size=4)):
        key = draw(st.text(max_size=6).filter(lambda k, p=place: k not in PLACES[p]))
        holder = doc
        for part in place:
            holder = holder[part]
        holder[key] = draw(ANY_JSON)
    return doc, naive


@settings(max_examples=examples(60), deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(legacy_manifests())
def test_generated_legacy_manifests_upgrade_losslessly_and_once(
    drawn: tuple[dict[str, Any], bool],
) -> None:
    legacy, naive = drawn
    frozen = copy.deepcopy(legacy)
    upgraded = upgrade_document(legacy, "manifest", context=ZONE)
    assert legacy == frozen  # pure
    assert not upgraded.refused, upgraded.refusals
    assert validate_document(upgraded.after, "manifest") == []
    assert unaccounted_leaves(legacy, upgraded.after, [a.notes for a in upgraded.applied]) == []
    again = upgrade_document(upgraded.after, "manifest", context=ZONE)
    assert again.after == upgraded.after and again.steps == ()
    plain = upgrade_document(legacy, "manifest", context=StepContext(unit="ws"))
    assert plain.refused == naive
