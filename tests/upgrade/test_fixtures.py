"""Every real manifest of the reference system's history: valid ones accepted and left
alone; legacy ones upgraded to valid documents, or refused with a reason."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from shadow_audit.upgrade import StepContext, parse_timezone, upgrade_document
from shadow_audit.validation import validate_document
from tests.upgrade.legacy import fixture_files, reference_verdicts

BERLIN = StepContext(unit="ws", timezone=parse_timezone("Europe/Berlin"))
# What the chain makes of each legacy fixture, and why (written next to the data).
EXPECTED = {
    "76a34d2f": ("upgraded", ["null-substate@1"]),
    "e2decd95": ("upgraded", ["unknown-keys@1"]),
    # v0: no owner, no lastUpdatedAt, no status message anywhere in the document
    "018e45f7": (
        "refused",
        ["/metadata: 'owner'", "/metadata: 'lastUpdatedAt'", "/status: 'message'"],
    ),
    "33ee36f3": ("refused", ["/metadata: 'owner'", "/status: 'lastUpdate'"]),
    # the required mainRepository.lastCommit is empty: no commit to name
    "3094d744": ("refused", ["/artifacts/code/mainRepository/lastCommit: empty"]),
    # no status.lastUpdate or message; its naive timestamps need --assume-timezone
    "d6ff83fc": ("refused", ["/metadata/createdAt: naive timestamp", "/status: 'message'"]),
}


@pytest.mark.parametrize("fixture", fixture_files(), ids=lambda p: p.name[:8])
def test_every_fixture_is_valid_upgraded_or_refused_with_a_reason(fixture: Path) -> None:
    legacy = json.loads(fixture.read_bytes())
    verdict = reference_verdicts()[fixture.name]
    upgraded = upgrade_document(legacy, "manifest", context=StepContext(unit="ws"))
    if verdict == "valid":
        assert validate_document(legacy, "manifest") == []  # our schema accepts it
        assert not upgraded.changed and not upgraded.refused and upgraded.steps == ()
        return
    outcome, expected = EXPECTED[fixture.name[:8]]
    if outcome == "upgraded":
        assert upgraded.changed and not upgraded.refused
        assert list(upgraded.steps) == expected
        assert validate_document(upgraded.after, "manifest") == []
        again = upgrade_document(upgraded.after, "manifest", context=StepContext(unit="ws"))
        assert not again.changed and not again.refused and again.steps == ()
    else:
        assert upgraded.refused and not upgraded.changed
        for start in expected:
            assert any(r.startswith(start) for r in upgraded.refusals), (start, upgraded.refusals)


def test_with_a_zone_the_naive_fixture_is_refused_only_for_what_has_no_value(
    vibe_fixtures: Path,
) -> None:
    (path,) = vibe_fixtures.glob("d6ff83fc__*.json")
    upgraded = upgrade_document(json.loads(path.read_bytes()), "manifest", context=BERLIN)
    assert upgraded.after["metadata"]["createdAt"] == "2025-11-20T09:06:31.293502+01:00"
    assert upgraded.after["metadata"]["lastUpdatedAt"] == "2025-11-20T09:06:31.293510+01:00"
    assert upgraded.after["budget"] == {
        "max_cost_usd": 10.0,
        "current_cost_usd": 0.0,
        "alert_threshold": 0.8,
    }
    assert [r.split(":")[0] for r in upgraded.refusals] == ["/status", "/status"]
