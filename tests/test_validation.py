"""Schemas and the validator: every error with its pointer; formats enforced; safe keys."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest

from shadow_audit.validation import is_valid, validate_document

FIXTURE_VERDICTS = {
    "018e45f7": False,
    "0687a623": True,
    "19208480": True,
    "3094d744": False,
    "33ee36f3": False,
    "3c1f3d3c": True,
    "426ddb9b": True,
    "5f3c8da7": True,
    "76a34d2f": False,
    "9d5fe663": True,
    "d6ff83fc": False,
    "e2decd95": False,
}


def test_generated_documents_are_valid(project):
    manifest, memory = project(0)
    assert validate_document(manifest, "manifest") == []
    assert validate_document(memory, "memory") == []


def test_all_errors_are_returned_with_pointers(project):
    manifest, _ = project(0)
    manifest["status"]["projectPhase"] = "DONE"
    manifest["metadata"]["owner"] = ""
    del manifest["kind"]
    issues = validate_document(manifest, "manifest")
    pointers = {i.pointer for i in issues}
    assert pointers == {"", "/metadata/owner", "/status/projectPhase"}
    phase = next(i for i in issues if i.pointer == "/status/projectPhase")
    assert "'DONE' is not one of" in phase.message
    assert phase.schema_path.endswith("/enum")


@pytest.mark.parametrize(
    "stamp",
    [
        "2025-11-20T09:06:31.293502",
        "2025-11-20",
        "2025-13-01T00:00:00Z",
        "yesterday",
        "2025-11-20T25:00:00Z",
        "2025-11-20 09:06:31Z",
        "2025-11-20T09:06:31Z\n",
    ],
)
def test_date_time_format_is_enforced(project, stamp):
    manifest, _ = project(0)
    manifest["metadata"]["createdAt"] = stamp
    assert [i.pointer for i in validate_document(manifest, "manifest")] == ["/metadata/createdAt"]
    assert not is_valid(manifest, "manifest")


@pytest.mark.parametrize("stamp", ["2025-11-20T09:06:31Z", "2025-11-20T09:06:31.5+02:00"])
def test_date_time_with_offset_is_accepted(project, stamp):
    manifest, _ = project(0)
    manifest["status"]["lastUpdate"] = stamp
    assert validate_document(manifest, "manifest") == []


@pytest.mark.parametrize(
    "pid",
    ["../etc", "a/b", "a\\b", ".hidden", "..", "x..y", "tab\there", "", "new\nline", "é", "proj\n"],
)
def test_unsafe_project_ids_are_rejected(project, pid):
    manifest, _ = project(0)
    manifest["metadata"]["projectId"] = pid
    assert "/metadata/projectId" in {i.pointer for i in validate_document(manifest, "manifest")}


@pytest.mark.parametrize("pid", ["agency_toolkit", "My Project", "é", "x..y", "../etc"])
def test_memory_project_id_is_any_folder_name(project, pid):
    """The reference writes its project root folder's name there: data, never a path the
    audit or the writer follows (the memory belongs to the folder it is in)."""
    _, memory = project(0)
    memory["project_id"] = pid
    assert validate_document(memory, "memory") == []
    assert is_valid(memory, "memory")


def test_empty_memory_project_id_is_rejected(project):
    _, memory = project(0)
    memory["project_id"] = ""
    assert [i.pointer for i in validate_document(memory, "memory")] == ["/project_id"]


@pytest.mark.parametrize("confidence", ["high", "medium", "low", 0, 0.75, 1])
def test_intent_confidence_is_a_label_or_a_number(project, confidence):
    _, memory = project(0)
    memory["intent_history"] = [{"session": 51, "intent": "deployment", "confidence": confidence}]
    assert validate_document(memory, "memory") == []


@pytest.mark.parametrize("confidence", ["", 1.5, -0.1, None, True])
def test_intent_confidence_must_be_a_label_or_a_number_in_0_1(project, confidence):
    _, memory = project(0)
    memory["intent_history"] = [{"session": 1, "intent": "deployment", "confidence": confidence}]
    assert [i.pointer for i in validate_document(memory, "memory")] == [
        "/intent_history/0/confidence"
    ]


def test_naive_timestamps_and_unknown_phase_are_accepted_as_written(project):
    _, memory = project(0)
    memory["_created"] = "2025-11-20T09:06:31.123456"
    memory["narrative"][0].update(date="2025-11-21T10:00:00.000001", phase="UNKNOWN")
    assert validate_document(memory, "memory") == []


def test_every_phase_and_sub_state_is_accepted(project):
    manifest, _ = project(0)
    for phase in ["AWAITING_CODE_GENERATION", "PRODUCTION", "MAINTENANCE"]:
        manifest["status"]["projectPhase"] = phase
        assert validate_document(manifest, "manifest") == []
    manifest["status"]["planningSubState"] = "ARCHITECTURE_DESIGN"
    assert validate_document(manifest, "manifest") == []


def test_memory_errors_name_the_field(project):
    _, memory = project(0)
    memory["narrative"][1]["session"] = "two"
    memory["intent_history"][0]["confidence"] = 1.5
    pointers = [i.pointer for i in validate_document(memory, "memory")]
    assert pointers == ["/intent_history/0/confidence", "/narrative/1/session"]


def test_reference_fixtures_agree_with_the_reference_verdicts(vibe_fixtures: Path):
    seen = 0
    for path in sorted(vibe_fixtures.glob("*.json")):
        expected_valid = FIXTURE_VERDICTS[path.name.split("__")[0]]
        doc = orjson.loads(path.read_bytes())
        issues = validate_document(doc, "manifest")
        assert (not issues) is expected_valid, (path.name, [str(i) for i in issues])
        assert is_valid(doc, "manifest") is expected_valid, path.name
        seen += 1
    assert seen == len(FIXTURE_VERDICTS)


@pytest.mark.parametrize(
    ("pointer", "value"),
    [
        ("/apiVersion", "agency.os/v1alpha1\n"),
        ("/artifacts/code/mainRepository/lastCommit", "abcdef1\n"),
    ],
)
def test_patterns_end_where_the_value_ends(project, pointer, value):
    """'$' also matches before a final newline in Python's regular expressions."""
    manifest, _ = project(0)
    parts = pointer.strip("/").split("/")
    target = manifest
    for part in parts[:-1]:
        target = target.setdefault(part, {})
    target[parts[-1]] = value
    assert pointer in {i.pointer for i in validate_document(manifest, "manifest")}
    assert not is_valid(manifest, "manifest")


def test_the_fast_checker_leaves_the_loaded_schema_as_it_was_read():
    """fastjsonschema rewrites the $refs of the schema it compiles; the cached schema that
    load_schema hands to everyone else must not change."""
    import copy

    from shadow_audit.validation import _fast_validator, is_valid, load_schema

    before = copy.deepcopy(load_schema("manifest"))
    _fast_validator.cache_clear()
    is_valid({}, "manifest")
    assert load_schema("manifest") == before
