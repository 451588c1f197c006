"""The memory step: the GAD-501 shape -> the shape ``ProjectMemoryManager`` writes.

GAD-501: ``narrative.sessions[]`` {session_id, timestamp, description, phase};
``domain`` {project_type, key_concepts, concerns}; ``trajectory`` {phases_completed,
current_phase, current_focus, blockers}; ``user_intents`` {session_NNN: [intent]}.

Current: ``_schema_version`` "1.0", ``_created``, ``project_id``, ``narrative``
[{session, summary, date, phase}], ``domain`` {type, concepts, concerns},
``trajectory`` {phase, completed, current_focus, blockers}, ``intent_history``
[{session, intent, confidence}].

An upgraded intent that recorded no confidence gets ``"medium"``: the reference writes
only the labels "high" and "medium", the old shape kept no trace of how sure the
extractor was, and "medium" is the lower of the two, so an upgrade never claims more
certainty than was recorded. Each such value is listed as set.
"""

from __future__ import annotations

import copy
import re
from typing import Any

from shadow_audit.upgrade.leaves import pointer
from shadow_audit.upgrade.model import Note, Step, StepContext

SCHEMA_VERSION = "1.0"
UPGRADED_CONFIDENCE = "medium"
_TRAILING_NUMBER = re.compile(r"(\d+)$")
_SESSION = ("session_id", "timestamp", "description", "phase")
_RENAMED = {
    "domain": {"project_type": "type", "key_concepts": "concepts", "concerns": "concerns"},
    "trajectory": {
        "current_phase": "phase",
        "phases_completed": "completed",
        "current_focus": "current_focus",
        "blockers": "blockers",
    },
}
_ORDER = (
    "_schema_version",
    "_created",
    "project_id",
    "narrative",
    "domain",
    "trajectory",
    "intent_history",
)
Result = tuple[dict[str, Any], list[Note]]


def is_gad501(document: dict[str, Any]) -> bool:
    """Whether any part of ``document`` still has the GAD-501 shape.

    Args:
        document: a memory document.

    Returns:
        True when a GAD-501 section is still there.
    """
    domain, trajectory = document.get("domain"), document.get("trajectory")
    return (
        isinstance(document.get("narrative"), dict)
        or "user_intents" in document
        or (isinstance(domain, dict) and ("project_type" in domain or "key_concepts" in domain))
        or (
            isinstance(trajectory, dict)
            and ("current_phase" in trajectory or "phases_completed" in trajectory)
        )
    )


def _session_number(value: Any) -> int | None:
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        return value
    if isinstance(value, str) and (match := _TRAILING_NUMBER.search(value)):
        return int(match.group(1))
    return None


def _narrative(doc: dict[str, Any], notes: list[Note]) -> Any:
    old = doc["narrative"]
    sessions = old.get("sessions", [])
    for key in old:
        if key != "sessions":
            notes.append(Note("refused", pointer("narrative", key), None, "no place for it"))
    if not isinstance(sessions, list):
        notes.append(Note("refused", pointer("narrative", "sessions"), None, "not a list"))
        return old
    entries: list[dict[str, Any]] = []
    if "sessions" not in old:
        notes.append(
            Note(
                "converted",
                pointer("narrative"),
                pointer("narrative"),
                "no sessions: an empty list",
                [],
            )
        )
    for n, item in enumerate(sessions):
        src, i = ("narrative", "sessions", n), len(entries)
        if not isinstance(item, dict):
            notes.append(Note("refused", pointer(*src), None, "not an object"))
            continue
        for key in item:
            if key not in _SESSION:
                notes.append(Note("refused", pointer(*src, key), None, "no place for it"))
        number = _session_number(item.get("session_id"))
        if number is None:
            notes.append(
                Note(
                    "refused",
                    pointer(*src, "session_id"),
                    None,
                    f"{item.get('session_id')!r} holds no session number",
                )
            )
            continue
        entry: dict[str, Any] = {"session": number}
        if item["session_id"] == number:
            notes.append(
                Note(
                    "moved",
                    pointer(*src, "session_id"),
                    pointer("narrative", i, "session"),
                    "renamed",
                )
            )
        else:
            notes.append(
                Note(
                    "converted",
                    pointer(*src, "session_id"),
                    pointer("narrative", i, "session"),
                    "the number in the id",
                    number,
                )
            )
        for old_key, new_key in (("description", "summary"), ("timestamp", "date")):
            if not isinstance(item.get(old_key), str):
                notes.append(
                    Note("refused", pointer(*src, old_key), None, "missing or not a string")
                )
                continue
            entry[new_key] = item[old_key]
            notes.append(
                Note("moved", pointer(*src, old_key), pointer("narrative", i, new_key), "renamed")
            )
        if "phase" in item:
            entry["phase"] = item["phase"]
            notes.append(
                Note("moved", pointer(*src, "phase"), pointer("narrative", i, "phase"), "same name")
            )
        else:
            entry["phase"] = "UNKNOWN"
            notes.append(
                Note(
                    "set",
                    None,
                    pointer("narrative", i, "phase"),
                    "missing; the reference writes UNKNOWN for an unknown phase",
                    "UNKNOWN",
                )
            )
        entries.append(entry)
    if not sessions:
        notes.append(
            Note(
                "moved",
                pointer("narrative", "sessions"),
                pointer("narrative"),
                "an empty session list",
            )
        )
    return entries


def _renamed(doc: dict[str, Any], section: str, notes: list[Note]) -> Any:
    old = doc[section]
    names = _RENAMED[section]
    new: dict[str, Any] = {}
    for key, value in old.items():
        if key in names.values() and key not in names:
            new_key = key  # already the current name (e.g. "type" next to "key_concepts")
        elif key in names:
            new_key = names[key]
        else:
            notes.append(Note("refused", pointer(section, key), None, "no place for it"))
            continue
        if new_key in new:
            notes.append(Note("refused", pointer(section, key), None, f"{new_key} twice"))
            continue
        new[new_key] = value
        notes.append(Note("moved", pointer(section, key), pointer(section, new_key), "renamed"))
    lists = ("concepts", "concerns") if section == "domain" else ("completed", "blockers")
    for key in lists:
        if key not in new:
            new[key] = []
            notes.append(Note("set", None, pointer(section, key), "missing; an empty list", []))
    if section == "trajectory" and "phase" not in new:
        notes.append(
            Note(
                "refused",
                pointer(section, "current_phase"),
                None,
                "missing: the current phase has no value to come from",
            )
        )
    return new


def _intents(doc: dict[str, Any], notes: list[Note]) -> list[dict[str, Any]]:
    old = doc["user_intents"]
    if not isinstance(old, dict):
        notes.append(Note("refused", pointer("user_intents"), None, "not an object"))
        return []
    if "intent_history" in doc:
        notes.append(
            Note(
                "refused",
                pointer("user_intents"),
                None,
                "next to an intent_history: which comes first is unknown",
            )
        )
        return []
    numbered = []
    for key, intents in old.items():
        number = _session_number(key)
        if number is None or not isinstance(intents, list):
            notes.append(
                Note(
                    "refused", pointer("user_intents", key), None, "not session_NNN: [intent, ...]"
                )
            )
            continue
        numbered.append((number, key, intents))
    history: list[dict[str, Any]] = []
    if not old:
        notes.append(
            Note(
                "converted",
                pointer("user_intents"),
                pointer("intent_history"),
                "no intents: an empty list",
                [],
            )
        )
    for number, key, intents in sorted(numbered, key=lambda t: t[0]):
        if not intents:
            notes.append(
                Note(
                    "dropped",
                    pointer("user_intents", key),
                    None,
                    "no intents in this session; intent_history lists intents",
                    [],
                )
            )
        for j, intent in enumerate(intents):
            src, at = ("user_intents", key, j), ("intent_history", len(history))
            if isinstance(intent, str):
                history.append(
                    {"session": number, "intent": intent, "confidence": UPGRADED_CONFIDENCE}
                )
                notes.append(Note("moved", pointer(*src), pointer(*at, "intent"), "renamed"))
                notes.append(_confidence_set(at))
            elif (
                isinstance(intent, dict)
                and set(intent) <= {"intent", "confidence"}
                and (isinstance(intent.get("intent"), str))
            ):
                confidence = intent.get("confidence", UPGRADED_CONFIDENCE)
                history.append(
                    {"session": number, "intent": intent["intent"], "confidence": confidence}
                )
                notes.append(Note("moved", pointer(*src), pointer(*at), "renamed"))
                if "confidence" not in intent:
                    notes.append(_confidence_set(at))
            else:
                notes.append(
                    Note(
                        "refused", pointer(*src), None, "neither a string nor {intent, confidence}"
                    )
                )
                continue
    return history


def gad501_memory(document: dict[str, Any], context: StepContext) -> Result:
    """The GAD-501 memory shape -> the current one (see the module docstring).

    ``project_id``, when absent, becomes the unit's folder name, as the reference's
    ``_infer_project_id`` does (manifests carry no top-level ``project_id``).

    Args:
        document: the memory as found.
        context: the unit (its folder name) and the options of the run.

    Returns:
        The document (a changed copy, or the same object when nothing applies) and a
        note for every change or refusal.
    """
    if not is_gad501(document):
        return document, []
    doc = copy.deepcopy(document)
    notes: list[Note] = []
    if isinstance(doc.get("narrative"), dict):
        doc["narrative"] = _narrative(doc, notes)
    for section in ("domain", "trajectory"):
        if isinstance(doc.get(section), dict):
            doc[section] = _renamed(doc, section, notes)
    if "user_intents" in doc:
        doc["intent_history"] = _intents(doc, notes)
        del doc["user_intents"]
    if doc.get("_schema_version") != SCHEMA_VERSION:
        if "_schema_version" in doc:
            notes.append(
                Note(
                    "converted",
                    pointer("_schema_version"),
                    pointer("_schema_version"),
                    "the version of the current shape",
                    SCHEMA_VERSION,
                )
            )
        else:
            notes.append(
                Note(
                    "set",
                    None,
                    pointer("_schema_version"),
                    "the version of the current shape",
                    SCHEMA_VERSION,
                )
            )
        doc["_schema_version"] = SCHEMA_VERSION
    if "project_id" not in doc:
        if context.unit:
            doc["project_id"] = context.unit
            notes.append(
                Note(
                    "set",
                    None,
                    pointer("project_id"),
                    "the folder name, as the reference infers it",
                    context.unit,
                )
            )
        else:
            notes.append(Note("refused", pointer("project_id"), None, "missing; no folder name"))
    ordered = {k: doc.pop(k) for k in _ORDER if k in doc}
    return {**ordered, **doc}, notes


MEMORY_STEPS = (
    Step("gad501-memory", 1, "memory", "GAD-501 memory -> ProjectMemoryManager 1.0", gad501_memory),
)


def _confidence_set(at: tuple[Any, ...]) -> Note:
    """The note for an intent given the default confidence, at ``intent_history`` index ``at``."""
    return Note(
        "set",
        None,
        pointer(*at, "confidence"),
        "none recorded; the lower of the reference's labels",
        UPGRADED_CONFIDENCE,
    )
