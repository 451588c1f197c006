"""Each manifest step on its own: what it changes, what it says, and that it leaves a
current document alone (so the chain is idempotent)."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from shadow_audit.errors import UsageError
from shadow_audit.synth import make_projects
from shadow_audit.upgrade import StepContext, parse_timezone
from shadow_audit.upgrade.steps import (
    MANIFEST_STEPS,
    empty_hashes,
    empty_sections,
    flat_v0,
    naive_timestamps,
    null_substate,
    partial_budget,
    unknown_keys,
    updated_at,
)
from shadow_audit.validation import validate_document

NO_ZONE = StepContext(unit="ws")
BERLIN = StepContext(unit="ws", timezone=parse_timezone("Europe/Berlin"))

# The flat v0 shape, as agency_toolkit's first manifest has it (fixture 018e45f7).
FLAT_V0: dict[str, Any] = {
    "schema_version": "1.0.0",
    "project_id": "agency_toolkit_001",
    "project_name": "Agency Toolkit",
    "workspace": "agency_toolkit",
    "created_at": "2025-11-13T16:23:00Z",
    "current_state": "PLANNING",
    "status": {"projectPhase": "PLANNING", "lastUpdated": "2025-11-13T16:23:00Z"},
    "links": {"lean_canvas_summary": None, "feature_spec": None},
    "metadata": {"client": "Internal (Vibe Agency)", "description": "Tool für Agenturen"},
}


def current() -> dict[str, Any]:
    return make_projects(1, seed=5)[0][0]


def actions(notes: list[Any]) -> list[tuple[str, str | None, str | None]]:
    return [(n.action, n.source, n.target) for n in notes]


@pytest.mark.parametrize("step", MANIFEST_STEPS, ids=lambda s: s.id)
def test_every_step_leaves_a_current_manifest_alone(step: Any) -> None:
    doc = current()
    before = copy.deepcopy(doc)
    after, notes = step.apply(doc, BERLIN)
    assert (after, notes) == (before, [])
    assert doc == before  # the input is never modified


def test_flat_v0_renames_what_has_a_place_and_keeps_the_rest_for_later() -> None:
    after, notes = flat_v0(copy.deepcopy(FLAT_V0), NO_ZONE)
    assert list(after)[:5] == ["apiVersion", "kind", "metadata", "spec", "status"]
    assert after["apiVersion"] == "agency.os/v1alpha1" and after["kind"] == "Project"
    assert after["metadata"] == {
        "description": "Tool für Agenturen",
        "projectId": "agency_toolkit_001",
        "name": "Agency Toolkit",
        "createdAt": "2025-11-13T16:23:00Z",
    }
    # where the reference's own migration of agency_toolkit put it
    assert after["spec"] == {"vibe": {"client": "Internal (Vibe Agency)"}}
    assert after["status"] == {"projectPhase": "PLANNING", "lastUpdate": "2025-11-13T16:23:00Z"}
    # current_state duplicates status.projectPhase: it stays for unknown-keys, as do these
    assert {"schema_version", "workspace", "links", "current_state"} <= set(after)
    assert ("moved", "/project_id", "/metadata/projectId") in actions(notes)
    assert ("moved", "/status/lastUpdated", "/status/lastUpdate") in actions(notes)
    assert ("set", None, "/apiVersion") in actions(notes)


def test_flat_v0_takes_the_phase_from_current_state_or_phase_when_status_has_none() -> None:
    doc = {"project_id": "p", "project_name": "P", "phase": "CODING", "created_at": "x"}
    after, notes = flat_v0(doc, NO_ZONE)
    assert after["status"] == {"projectPhase": "CODING"} and "phase" not in after
    assert ("moved", "/phase", "/status/projectPhase") in actions(notes)


def test_updated_at_becomes_last_updated_at_in_place() -> None:
    doc = current()
    doc["metadata"]["updatedAt"] = doc["metadata"].pop("lastUpdatedAt")
    after, notes = updated_at(doc, NO_ZONE)
    assert list(after["metadata"]) == list(current()["metadata"])
    assert after == current()
    assert actions(notes) == [("moved", "/metadata/updatedAt", "/metadata/lastUpdatedAt")]


def test_updated_at_next_to_last_updated_at_is_left_for_unknown_keys() -> None:
    doc = current()
    doc["metadata"]["updatedAt"] = "2025-01-01T00:00:00Z"
    assert updated_at(doc, NO_ZONE) == (doc, [])


def test_null_substate_is_dropped_with_its_reason() -> None:
    doc = current()
    doc["status"]["planningSubState"] = None
    after, notes = null_substate(doc, NO_ZONE)
    assert "planningSubState" not in after["status"]
    assert actions(notes) == [("dropped", "/status/planningSubState", None)]
    assert "no sub-state" in notes[0].detail


def test_empty_hashes_of_artifacts_are_dropped() -> None:
    doc = current()
    doc["artifacts"]["planning"]["feature_spec"].update(ref="", lastCommit="")
    after, notes = empty_hashes(doc, NO_ZONE)
    assert after == current()
    assert actions(notes) == [
        ("dropped", "/artifacts/planning/feature_spec/ref", None),
        ("dropped", "/artifacts/planning/feature_spec/lastCommit", None),
    ]


def test_an_empty_required_main_repository_commit_is_refused_not_invented() -> None:
    doc = current()
    doc["artifacts"]["code"]["mainRepository"] = {
        "url": "git@x:y.git",
        "branch": "main",
        "lastCommit": "",
    }
    after, notes = empty_hashes(doc, NO_ZONE)
    assert after == doc
    assert actions(notes) == [("refused", "/artifacts/code/mainRepository/lastCommit", None)]


def test_partial_budget_gets_the_reference_database_defaults_and_says_so() -> None:
    doc = current()
    doc["budget"] = {"max_cost_usd": 10.0}
    after, notes = partial_budget(doc, NO_ZONE)
    assert after["budget"] == {
        "max_cost_usd": 10.0,
        "current_cost_usd": 0.0,
        "alert_threshold": 0.8,
    }
    assert actions(notes) == [
        ("set", None, "/budget/current_cost_usd"),
        ("set", None, "/budget/alert_threshold"),
    ]
    assert all("reference schema v2 default" in n.detail for n in notes)
    assert validate_document(after, "manifest") == []


def test_a_budget_without_max_cost_is_refused() -> None:
    doc = current()
    doc["budget"] = {"current_cost_usd": 1.0, "alert_threshold": 0.5}
    after, notes = partial_budget(doc, NO_ZONE)
    assert after == doc
    assert actions(notes) == [("refused", "/budget/max_cost_usd", None)]


def test_empty_sections_are_added_empty() -> None:
    doc = current()
    del doc["spec"], doc["artifacts"]
    after, notes = empty_sections(doc, NO_ZONE)
    assert after["spec"] == {"vibe": {}} and after["artifacts"] == {}
    assert actions(notes) == [
        ("set", None, "/spec"),
        ("set", None, "/spec/vibe"),
        ("set", None, "/artifacts"),
    ]


def naive_doc() -> dict[str, Any]:
    doc = current()
    doc["metadata"]["createdAt"] = "2025-11-20T09:06:31.293502"  # as fixture d6ff83fc
    doc["metadata"]["lastUpdatedAt"] = "2025-07-01T12:00:00"
    return doc


def test_naive_timestamps_get_the_offset_of_the_assumed_zone_at_that_instant() -> None:
    after, notes = naive_timestamps(naive_doc(), BERLIN)
    assert after["metadata"]["createdAt"] == "2025-11-20T09:06:31.293502+01:00"
    assert after["metadata"]["lastUpdatedAt"] == "2025-07-01T12:00:00+02:00"  # summer time
    assert after["spec"]["vibe"]["x-upgrade"] == {"assumed_timezone": "Europe/Berlin"}
    assert [n.action for n in notes] == ["converted", "converted", "set"]
    assert validate_document(after, "manifest") == []
    assert naive_timestamps(after, BERLIN) == (after, [])


def test_naive_timestamps_take_a_fixed_offset() -> None:
    context = StepContext(timezone=parse_timezone("-05:30"))
    after, _ = naive_timestamps(naive_doc(), context)
    assert after["metadata"]["createdAt"] == "2025-11-20T09:06:31.293502-05:30"
    assert after["spec"]["vibe"]["x-upgrade"]["assumed_timezone"] == "-05:30"


def test_naive_timestamps_without_a_zone_are_refused_never_guessed() -> None:
    doc = naive_doc()
    after, notes = naive_timestamps(doc, NO_ZONE)
    assert after == doc
    assert [n.action for n in notes] == ["refused", "refused"]
    assert "--assume-timezone" in notes[0].detail


def test_a_second_zone_for_one_document_is_refused() -> None:
    after, _ = naive_timestamps(naive_doc(), BERLIN)
    after["status"]["lastUpdate"] = "2025-11-21T08:00:00"
    again, notes = naive_timestamps(after, StepContext(timezone=parse_timezone("UTC")))
    assert again == after and [n.action for n in notes] == ["refused"]
    assert "Europe/Berlin" in notes[0].detail


@pytest.mark.parametrize("text", ["Mars/Olympus", "+25:00", "01:00", "", "../etc/passwd", "Europe"])
def test_a_bad_zone_is_a_usage_error(text: str) -> None:
    with pytest.raises(UsageError, match="--assume-timezone"):
        parse_timezone(text)


def test_unknown_keys_move_under_their_old_pointer_and_validate() -> None:
    doc = current()
    doc["research_metadata"] = {"research_agents": ["MARKET_RESEARCHER"]}
    doc["spec"]["initial_requirements"] = {"business_goal": "bookings"}
    doc["metadata"]["tags"] = ["saas", "mvp"]
    doc["artifacts"]["planning"]["feature_spec"]["reviewer"] = "kim"
    after, notes = unknown_keys(doc, NO_ZONE)
    assert after["spec"]["vibe"]["x-upgrade"]["moved"] == {
        "/artifacts/planning/feature_spec/reviewer": "kim",
        "/metadata/tags": ["saas", "mvp"],
        "/research_metadata": {"research_agents": ["MARKET_RESEARCHER"]},
        "/spec/initial_requirements": {"business_goal": "bookings"},
    }
    assert validate_document(after, "manifest") == []
    assert ("moved", "/metadata/tags", "/spec/vibe/x-upgrade/moved/~1metadata~1tags") in actions(
        notes
    )
    assert unknown_keys(after, NO_ZONE) == (after, [])
