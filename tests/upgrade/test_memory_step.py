"""The GAD-501 memory step: narrative.sessions, domain, trajectory and user_intents
brought to the shape ProjectMemoryManager writes."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from shadow_audit.synth import make_projects
from shadow_audit.upgrade import StepContext, upgrade_document
from shadow_audit.upgrade.memory_steps import gad501_memory
from shadow_audit.validation import validate_document
from tests.upgrade.legacy import grow_gad501

CONTEXT = StepContext(unit="yoga_studio")


def test_four_sessions_become_the_current_shape() -> None:
    legacy = grow_gad501(4)
    after, notes = gad501_memory(legacy, CONTEXT)
    assert list(after) == [
        "_schema_version",
        "project_id",
        "narrative",
        "domain",
        "trajectory",
        "intent_history",
    ]
    assert after["_schema_version"] == "1.0"
    assert after["project_id"] == "yoga_studio"  # the folder name, as _infer_project_id does
    first = legacy["narrative"]["sessions"][0]
    assert after["narrative"][0] == {
        "session": 1,
        "summary": first["description"],
        "date": first["timestamp"],
        "phase": "PLANNING",
    }
    assert [e["session"] for e in after["narrative"]] == [1, 2, 3, 4]
    assert after["domain"] == {
        "type": "saas",
        "concepts": legacy["domain"]["key_concepts"],  # order of discovery, not sorted
        "concerns": ["payment compliance"],
    }
    assert after["trajectory"] == {
        "phase": "CODING",
        "completed": ["PLANNING"],
        "current_focus": "session 4 focus",
        "blockers": ["waiting on Stripe keys"],
    }
    assert after["intent_history"] == [
        {"session": 1, "intent": "intent 1a", "confidence": "medium"},
        {"session": 1, "intent": "intent 1b", "confidence": "medium"},
        {"session": 2, "intent": "intent 2a", "confidence": "medium"},
        {"session": 4, "intent": "intent 4a", "confidence": "medium"},
    ]
    confidences = [n for n in notes if n.action == "set" and n.target.endswith("/confidence")]
    assert len(confidences) == 4 and "lower of the reference's labels" in confidences[0].detail
    assert gad501_memory(legacy, CONTEXT)[0] == after  # pure: same input, same output
    assert legacy == grow_gad501(4)  # and the input untouched


def test_intents_are_ordered_by_session_number_not_by_key_order() -> None:
    legacy = grow_gad501(2, intents=False)
    legacy["user_intents"] = {"session_010": ["later"], "session_002": ["earlier"]}
    after, _ = gad501_memory(legacy, CONTEXT)
    assert [(i["session"], i["intent"]) for i in after["intent_history"]] == [
        (2, "earlier"),
        (10, "later"),
    ]


def test_an_intent_with_its_own_confidence_keeps_it() -> None:
    legacy = grow_gad501(1, intents=False)
    legacy["user_intents"] = {"session_001": [{"intent": "book a class", "confidence": "high"}]}
    after, _ = gad501_memory(legacy, CONTEXT)
    assert after["intent_history"] == [
        {"session": 1, "intent": "book a class", "confidence": "high"}
    ]


def test_an_empty_intent_list_is_listed_as_dropped() -> None:
    legacy = grow_gad501(1, intents=False)
    legacy["user_intents"] = {"session_001": []}
    upgraded = upgrade_document(legacy, "memory", context=CONTEXT)
    assert [(n.source, n.action) for n in upgraded.notes("dropped")] == [
        ("/user_intents/session_001", "dropped")
    ]


def test_a_missing_phase_is_unknown_as_the_reference_writes_it() -> None:
    legacy = grow_gad501(1, intents=False)
    del legacy["narrative"]["sessions"][0]["phase"]
    after, _ = gad501_memory(legacy, CONTEXT)
    assert after["narrative"][0]["phase"] == "UNKNOWN"


def test_a_memory_with_its_own_project_id_keeps_it() -> None:
    after, _ = gad501_memory(grow_gad501(2, project_id="agency_toolkit"), CONTEXT)
    assert after["project_id"] == "agency_toolkit"


@pytest.mark.parametrize(
    ("change", "pointer"),
    [
        (
            lambda m: m["narrative"]["sessions"][0].update(session_id="first"),
            "/narrative/sessions/0/session_id",
        ),
        (lambda m: m["narrative"]["sessions"][0].update(mood="good"), "/narrative/sessions/0/mood"),
        (lambda m: m["domain"].update(audience="yogis"), "/domain/audience"),
        (lambda m: m["trajectory"].pop("current_phase"), "/trajectory/current_phase"),
        (lambda m: m["user_intents"].update(misc=["x"]), "/user_intents/misc"),
        (lambda m: m["user_intents"]["session_001"].append(7), "/user_intents/session_001/2"),
    ],
)
def test_what_has_no_place_is_refused_by_pointer(change: Any, pointer: str) -> None:
    legacy = grow_gad501(3)
    change(legacy)
    upgraded = upgrade_document(legacy, "memory", context=CONTEXT)
    assert upgraded.refused and not upgraded.changed
    assert any(r.startswith(pointer + ":") for r in upgraded.refusals), upgraded.refusals


def test_a_current_memory_is_left_alone() -> None:
    memory = make_projects(1, seed=5)[0][1]
    assert gad501_memory(copy.deepcopy(memory), CONTEXT) == (memory, [])


def test_an_upgraded_memory_without_intents_validates() -> None:
    legacy = grow_gad501(60, intents=False)
    del legacy["user_intents"]
    upgraded = upgrade_document(legacy, "memory", context=CONTEXT)
    assert upgraded.changed and validate_document(upgraded.after, "memory") == []
    assert len(upgraded.after["narrative"]) == 60  # nothing trimmed: every session kept


def test_an_upgraded_memory_with_label_confidences_validates() -> None:
    upgraded = upgrade_document(grow_gad501(12), "memory", context=CONTEXT)
    assert upgraded.changed and not upgraded.refused, upgraded.refusals


@pytest.mark.parametrize(
    ("change", "advice"),
    [
        (lambda m: m.update(x_team="core"), "no upgrade step knows this key: remove it by hand"),
        (lambda m: m.pop("trajectory"), "nothing in the document can supply it; add it by hand"),
        (
            lambda m: m["narrative"][0].update(session="one"),
            "no upgrade step mends it; fix the value by hand",
        ),
    ],
    ids=["unknown key", "missing member", "wrong type"],
)
def test_what_no_step_mends_is_refused_with_the_hand_fix_its_rule_asks(
    change: Any, advice: str
) -> None:
    """A current memory edited out of band: the refusal says what to do by hand for the
    rule it breaks (an unknown key is removed, not added)."""
    memory = make_projects(1, seed=5)[0][1]
    change(memory)
    upgraded = upgrade_document(memory, "memory", context=CONTEXT)
    assert upgraded.refused
    assert [r for r in upgraded.refusals if advice in r], upgraded.refusals
