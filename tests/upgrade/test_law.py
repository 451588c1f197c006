"""The law of every upgrade: each leaf of a legacy document appears in the upgraded
document (where the notes say it went, equal unless converted), or is listed as
dropped with a reason. Checked on every fixture and on grown GAD-501 memories."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from shadow_audit.upgrade import Note, StepContext, parse_timezone, upgrade_document
from shadow_audit.upgrade.leaves import leaves, resolve, unaccounted_leaves
from tests.upgrade.legacy import fixture_files, grow_gad501

CONTEXTS = {
    "no zone": StepContext(unit="ws"),
    "Europe/Berlin": StepContext(unit="ws", timezone=parse_timezone("Europe/Berlin")),
}


def check_law(legacy: Any, kind: str, context: StepContext) -> None:
    upgraded = upgrade_document(legacy, kind, context=context)
    notes = [a.notes for a in upgraded.applied]
    assert unaccounted_leaves(legacy, upgraded.after, notes) == []
    for ptr, value in leaves(legacy):
        dropped = [n for n in upgraded.notes("dropped") if ptr.startswith(n.source or "-")]
        if dropped:
            assert dropped[0].detail, f"{ptr} dropped without a reason"
            continue
        # not dropped: an independent, looser check that the value is somewhere in the
        # upgraded document, as it was or in its upgraded form
        if not (isinstance(value, dict | list) and not value):
            assert any(in_upgraded_form(value, v) for _, v in leaves(upgraded.after)), ptr


def in_upgraded_form(value: Any, found: Any) -> bool:
    """Equal; a naive timestamp now with an offset; a session id now its number."""
    if type(value) is type(found) and value == found:
        return True
    if isinstance(value, str) and isinstance(found, str):
        return found.startswith(value) and found[len(value) :][:1] in ("+", "-", "Z")
    match = re.fullmatch(r"session_0*(\d+)", value) if isinstance(value, str) else None
    return bool(match) and found == int(match.group(1))


@pytest.mark.parametrize("context", CONTEXTS.values(), ids=CONTEXTS.keys())
@pytest.mark.parametrize("fixture", fixture_files(), ids=lambda p: p.name[:8])
def test_the_law_holds_on_every_fixture(fixture: Path, context: StepContext) -> None:
    check_law(json.loads(fixture.read_bytes()), "manifest", context)


def test_the_fixtures_are_here(vibe_fixtures: Path) -> None:
    assert len(fixture_files()) == 12


@pytest.mark.parametrize("sessions", [0, 1, 7, 55])
def test_the_law_holds_on_grown_gad501_memories(sessions: int) -> None:
    check_law(grow_gad501(sessions), "memory", StepContext(unit="ws"))


def test_a_leaf_that_vanishes_without_a_note_is_caught() -> None:
    before = {"status": {"projectPhase": "PLANNING", "planningSubState": None}}
    after = {"status": {"projectPhase": "PLANNING"}}
    assert unaccounted_leaves(before, after, []) == ["/status/planningSubState"]
    dropped = Note("dropped", "/status/planningSubState", None, "null")
    assert unaccounted_leaves(before, after, [[dropped]]) == []


def test_a_move_to_the_wrong_place_or_a_changed_value_is_caught() -> None:
    before = {"metadata": {"updatedAt": "2025-11-20T09:06:31"}}
    after = {"metadata": {"lastUpdatedAt": "2025-11-20T09:06:31+01:00"}}
    moved = Note("moved", "/metadata/updatedAt", "/metadata/lastUpdatedAt", "renamed")
    assert unaccounted_leaves(before, after, [[moved]]) == ["/metadata/updatedAt"]  # value changed
    wrong = Note("moved", "/metadata/updatedAt", "/metadata/elsewhere", "renamed")
    converted = Note("converted", "/metadata/lastUpdatedAt", "/metadata/lastUpdatedAt", "tz")
    assert unaccounted_leaves(before, after, [[wrong], [converted]]) == ["/metadata/updatedAt"]
    assert unaccounted_leaves(before, after, [[moved], [converted]]) == []


def test_a_subtree_move_carries_its_leaves() -> None:
    before = {"research_metadata": {"agents": ["A", "B"], "n": 4}}
    after = {
        "spec": {
            "vibe": {"x-upgrade": {"moved": {"/research_metadata": {"agents": ["A", "B"], "n": 4}}}}
        }
    }
    note = Note("moved", "/research_metadata", "/spec/vibe/x-upgrade/moved/~1research_metadata", "")
    assert unaccounted_leaves(before, after, [[note]]) == []
    assert resolve(after, "/spec/vibe/x-upgrade/moved/~1research_metadata/agents/1") == "B"


def test_an_upgrade_that_would_lose_a_value_is_refused() -> None:
    # a v0 document whose status is not an object: nothing can hold the string
    legacy = {
        "project_id": "p",
        "project_name": "P",
        "created_at": "2025-01-01T00:00:00Z",
        "status": "PLANNING",
    }
    upgraded = upgrade_document(legacy, "manifest", context=StepContext(unit="ws"))
    assert upgraded.refused and not upgraded.changed
