"""The manifest steps: each a pure function from a legacy manifest to a newer one.

Every step copies its input, changes only the shape it is named after, and returns
notes for every value it moved, converted, dropped or set. A step that finds nothing
of its shape returns the document unchanged and no notes, so the chain is idempotent.

Where moved values go: ``spec.vibe["x-upgrade"]["moved"]``, keyed by the JSON Pointer
the value had. ``spec.vibe`` is a free object in the reference system's own schema and
in ours, so the upgraded document stays valid for both, and nothing is dropped.
"""

from __future__ import annotations

import copy
from datetime import datetime
from typing import Any

from shadow_audit.upgrade.leaves import pointer
from shadow_audit.upgrade.model import Note, Step, StepContext
from shadow_audit.validation import is_rfc3339_datetime, validator_for

API_VERSION = "agency.os/v1alpha1"
UPGRADE_KEY = "x-upgrade"
METADATA_KEYS = ("projectId", "name", "description", "owner", "createdAt", "lastUpdatedAt")
TIMESTAMPS = (
    ("metadata", "createdAt"),
    ("metadata", "lastUpdatedAt"),
    ("status", "lastUpdate"),
    ("status", "completedAt"),
)
# What the reference system's own SQLite schema v2 stores for a budget field the
# manifest leaves out (missions.current_cost_usd DEFAULT 0.0, alert_threshold DEFAULT 0.80).
BUDGET_DEFAULTS = {"current_cost_usd": 0.0, "alert_threshold": 0.8}
Result = tuple[dict[str, Any], list[Note]]


def _obj(document: dict[str, Any], key: str) -> dict[str, Any] | None:
    value = document.get(key)
    return value if isinstance(value, dict) else None


def flat_v0(document: dict[str, Any], context: StepContext) -> Result:
    """The flat v0 manifest (``project_id``, ``project_name``, ``created_at``,
    ``current_state``, ``links``) -> the agency.os/v1alpha1 shape.

    Renames what has a place; metadata keys the schema does not list go to ``spec.vibe``
    (where the reference system's own migration of agency_toolkit put ``client``,
    ``region`` and ``target_users``); the rest stays for ``unknown-keys``.

    Args:
        document: the manifest as found (or as the previous step left it).
        context: the unit and the options of the run.

    Returns:
        The document (a changed copy, or the same object when nothing applies) and a
        note for every change or refusal.
    """
    flat = ("project_id", "project_name", "current_state", "created_at")
    if "apiVersion" in document or not any(k in document for k in flat):
        return document, []
    doc = copy.deepcopy(document)
    notes: list[Note] = []
    metadata = _obj(doc, "metadata") or {}
    status = _obj(doc, "status") or {}
    spec = _obj(doc, "spec") or {}
    vibe = spec.get("vibe", {}) if isinstance(spec.get("vibe", {}), dict) else None
    for old, new in (
        ("project_id", "projectId"),
        ("project_name", "name"),
        ("created_at", "createdAt"),
    ):
        if old in doc and new not in metadata:
            metadata[new] = doc.pop(old)
            notes.append(Note("moved", pointer(old), pointer("metadata", new), "v0 name"))
    for key in [k for k in metadata if k not in METADATA_KEYS]:
        if vibe is not None and key not in vibe:
            vibe[key] = metadata.pop(key)
            spec["vibe"] = vibe
            notes.append(
                Note(
                    "moved",
                    pointer("metadata", key),
                    pointer("spec", "vibe", key),
                    "v0 metadata the schema does not list; the reference's own migration "
                    "kept it in spec.vibe",
                )
            )
    if "lastUpdated" in status and "lastUpdate" not in status:
        status["lastUpdate"] = status.pop("lastUpdated")
        notes.append(
            Note(
                "moved",
                pointer("status", "lastUpdated"),
                pointer("status", "lastUpdate"),
                "v0 name",
            )
        )
    for old in ("current_state", "phase"):
        if old in doc and "projectPhase" not in status:
            status["projectPhase"] = doc.pop(old)
            notes.append(Note("moved", pointer(old), pointer("status", "projectPhase"), "v0 name"))
    ordered = {k: metadata.pop(k) for k in METADATA_KEYS if k in metadata}
    head = {
        "apiVersion": API_VERSION,
        "kind": "Project",
        "metadata": {**ordered, **metadata},
        "spec": spec,
        "status": status,
    }
    for key in head:
        doc.pop(key, None)
    upgraded = {**{k: v for k, v in head.items() if v or k in document}, **doc}
    notes += [
        Note("set", None, pointer("apiVersion"), "the version the v0 shape became", API_VERSION),
        Note("set", None, pointer("kind"), "the only kind there is", "Project"),
    ]
    return upgraded, notes


def updated_at(document: dict[str, Any], context: StepContext) -> Result:
    """``metadata.updatedAt`` -> ``metadata.lastUpdatedAt`` (when that is not there yet).

    Args:
        document: the manifest as found (or as the previous step left it).
        context: the unit and the options of the run.

    Returns:
        The document (a changed copy, or the same object when nothing applies) and a
        note for every change or refusal.
    """
    metadata = _obj(document, "metadata")
    if metadata is None or "updatedAt" not in metadata or "lastUpdatedAt" in metadata:
        return document, []
    doc = copy.deepcopy(document)
    doc["metadata"] = {
        ("lastUpdatedAt" if k == "updatedAt" else k): v for k, v in doc["metadata"].items()
    }
    note = Note(
        "moved",
        pointer("metadata", "updatedAt"),
        pointer("metadata", "lastUpdatedAt"),
        "the name the schema uses",
    )
    return doc, [note]


def null_substate(document: dict[str, Any], context: StepContext) -> Result:
    """``status.planningSubState: null`` -> no key (the schema says "none" by absence).

    Args:
        document: the manifest as found (or as the previous step left it).
        context: the unit and the options of the run.

    Returns:
        The document (a changed copy, or the same object when nothing applies) and a
        note for every change or refusal.
    """
    status = _obj(document, "status")
    if status is None or "planningSubState" not in status or status["planningSubState"] is not None:
        return document, []
    doc = copy.deepcopy(document)
    del doc["status"]["planningSubState"]
    reason = "null means no sub-state; the schema says that by leaving the key out"
    return doc, [Note("dropped", pointer("status", "planningSubState"), None, reason, None)]


def empty_hashes(document: dict[str, Any], context: StepContext) -> Result:
    """Empty ``ref`` / ``lastCommit`` of an artifact -> no key: an empty hash names no
    commit. The required ``code.mainRepository.lastCommit`` has no faithful value when
    empty, so that document is refused (set the hash by hand).

    Args:
        document: the manifest as found (or as the previous step left it).
        context: the unit and the options of the run.

    Returns:
        The document (a changed copy, or the same object when nothing applies) and a
        note for every change or refusal.
    """
    artifacts = _obj(document, "artifacts")
    if artifacts is None:
        return document, []
    doc = copy.deepcopy(document)
    notes: list[Note] = []
    for group_name, group in doc["artifacts"].items():
        if not isinstance(group, dict):
            continue
        for name, item in group.items():
            if not isinstance(item, dict):
                continue
            for field in ("ref", "lastCommit"):
                if item.get(field) != "":
                    continue
                where = pointer("artifacts", group_name, name, field)
                if group_name == "code" and name == "mainRepository":
                    notes.append(
                        Note(
                            "refused",
                            where,
                            None,
                            "empty, and the schema requires a commit hash here; no value "
                            "could come from anywhere: set it by hand (git rev-parse HEAD)",
                        )
                    )
                    continue
                del item[field]
                notes.append(Note("dropped", where, None, "empty: it names no commit", ""))
    if not [n for n in notes if n.action == "dropped"]:
        return document, notes
    return doc, notes


def partial_budget(document: dict[str, Any], context: StepContext) -> Result:
    """A budget missing fields: ``current_cost_usd`` and ``alert_threshold`` get the
    values the reference system's own database gives them when absent (0.0, 0.80);
    a missing ``max_cost_usd`` has no such value, so that document is refused.

    Args:
        document: the manifest as found (or as the previous step left it).
        context: the unit and the options of the run.

    Returns:
        The document (a changed copy, or the same object when nothing applies) and a
        note for every change or refusal.
    """
    budget = _obj(document, "budget")
    if budget is None:
        return document, []
    notes: list[Note] = []
    if "max_cost_usd" not in budget:
        notes.append(
            Note(
                "refused",
                pointer("budget", "max_cost_usd"),
                None,
                "missing, and no value for it exists anywhere: set it by hand",
            )
        )
    missing = [k for k in BUDGET_DEFAULTS if k not in budget]
    if not missing:
        return document, notes
    doc = copy.deepcopy(document)
    for key in missing:
        doc["budget"][key] = BUDGET_DEFAULTS[key]
        notes.append(
            Note(
                "set",
                None,
                pointer("budget", key),
                f"missing; {BUDGET_DEFAULTS[key]} is the reference schema v2 default "
                f"(missions.{key})",
                BUDGET_DEFAULTS[key],
            )
        )
    return doc, notes


def empty_sections(document: dict[str, Any], context: StepContext) -> Result:
    """Missing ``spec``, ``spec.vibe`` or ``artifacts`` -> empty objects (they claim
    nothing; the reference system itself writes them empty).

    Args:
        document: the manifest as found (or as the previous step left it).
        context: the unit and the options of the run.

    Returns:
        The document (a changed copy, or the same object when nothing applies) and a
        note for every change or refusal.
    """
    spec = document.get("spec", {})
    wanted = [
        ("spec",) if "spec" not in document else None,
        ("spec", "vibe") if isinstance(spec, dict) and "vibe" not in spec else None,
        ("artifacts",) if "artifacts" not in document else None,
    ]
    if not any(wanted):
        return document, []
    doc = copy.deepcopy(document)
    notes: list[Note] = []
    for path in filter(None, wanted):
        parent = doc if len(path) == 1 else doc["spec"]
        parent[path[-1]] = {}
        notes.append(Note("set", None, pointer(*path), "missing; an empty object", {}))
    return doc, notes


def _naive(value: Any) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    return parsed if parsed.tzinfo is None else None


def upgrade_record(doc: dict[str, Any]) -> dict[str, Any]:
    """``spec.vibe["x-upgrade"]`` of ``doc``, created when absent.

    Args:
        doc: a manifest with ``spec.vibe`` (the upgrade's own copy).

    Returns:
        The record, a dict inside ``doc``.
    """
    record: dict[str, Any] = doc["spec"]["vibe"].setdefault(UPGRADE_KEY, {})
    return record


def naive_timestamps(document: dict[str, Any], context: StepContext) -> Result:
    """Naive date-times -> with the offset of ``--assume-timezone`` at that instant; the
    zone's name is recorded in ``spec.vibe["x-upgrade"].assumed_timezone``. Without the
    option such a document is refused: guessing a zone would move the instant.

    Args:
        document: the manifest as found (or as the previous step left it).
        context: the unit and the options of the run.

    Returns:
        The document (a changed copy, or the same object when nothing applies) and a
        note for every change or refusal.
    """
    found = []
    for section, key in TIMESTAMPS:
        holder = _obj(document, section)
        if holder is not None and (naive := _naive(holder.get(key))) is not None:
            found.append((section, key, naive))
    if not found:
        return document, []
    tz = context.timezone
    if tz is None:
        return document, [
            Note(
                "refused",
                pointer(s, k),
                None,
                f"naive timestamp {document[s][k]!r}: pass --assume-timezone TZ "
                "to say which zone it was written in",
            )
            for s, k, _ in found
        ]
    vibe = (_obj(document, "spec") or {}).get("vibe")
    if not isinstance(vibe, dict):
        return document, [Note("refused", pointer("spec", "vibe"), None, "not an object")]
    earlier = (vibe.get(UPGRADE_KEY) or {}).get("assumed_timezone")
    if earlier not in (None, tz.name):
        return document, [
            Note(
                "refused",
                pointer("spec", "vibe", UPGRADE_KEY, "assumed_timezone"),
                None,
                f"an earlier upgrade assumed {earlier!r}, this run {tz.name!r}",
            )
        ]
    doc = copy.deepcopy(document)
    notes: list[Note] = []
    for section, key, naive in found:
        original: str = doc[section][key]
        offset = naive.replace(tzinfo=tz.zone).isoformat()[len(naive.isoformat()) :]
        new = original + offset
        if not is_rfc3339_datetime(new):
            new = naive.replace(tzinfo=tz.zone).isoformat()
        doc[section][key] = new
        where = pointer(section, key)
        notes.append(Note("converted", where, where, f"naive; assumed {tz.name}", new))
    if earlier is None:
        upgrade_record(doc)["assumed_timezone"] = tz.name
        notes.append(
            Note(
                "set",
                None,
                pointer("spec", "vibe", UPGRADE_KEY, "assumed_timezone"),
                "the zone this upgrade assumed for naive timestamps",
                tz.name,
            )
        )
    return doc, notes


def unknown_keys(document: dict[str, Any], context: StepContext) -> Result:
    """Keys the schema does not allow (``research_metadata``, ``spec.initial_requirements``,
    ``metadata.tags``, ...) -> ``spec.vibe["x-upgrade"].moved[<their JSON Pointer>]``.

    Args:
        document: the manifest as found (or as the previous step left it).
        context: the unit and the options of the run.

    Returns:
        The document (a changed copy, or the same object when nothing applies) and a
        note for every change or refusal.
    """
    extras: list[tuple[tuple[Any, ...], str]] = []
    for error in validator_for("manifest").iter_errors(document):
        if error.validator != "additionalProperties" or error.validator_value is not False:
            continue
        allowed = error.schema.get("properties", {}) if isinstance(error.schema, dict) else {}
        if isinstance(error.instance, dict):
            path = tuple(error.absolute_path)
            extras += [(path, k) for k in error.instance if k not in allowed]
    if not extras:
        return document, []
    vibe = (_obj(document, "spec") or {}).get("vibe")
    if not isinstance(vibe, dict):
        return document, [Note("refused", pointer("spec", "vibe"), None, "not an object")]
    doc = copy.deepcopy(document)
    notes: list[Note] = []
    moved: dict[str, Any] = upgrade_record(doc).setdefault("moved", {})
    for path, key in sorted(extras, key=lambda e: [str(p) for p in (*e[0], e[1])]):
        source = pointer(*path, key)
        if source in moved:
            notes.append(Note("refused", source, None, "an earlier upgrade moved a value here"))
            continue
        parent: Any = doc
        for part in path:
            parent = parent[part]
        moved[source] = parent.pop(key)
        target = pointer("spec", "vibe", UPGRADE_KEY, "moved", source)
        notes.append(Note("moved", source, target, "no place for it in the schema"))
    return doc, notes


MANIFEST_STEPS = (
    Step("flat-v0", 1, "manifest", "flat v0 manifest -> agency.os/v1alpha1", flat_v0),
    Step("updated-at", 1, "manifest", "metadata.updatedAt -> lastUpdatedAt", updated_at),
    Step("null-substate", 1, "manifest", "planningSubState: null -> absent", null_substate),
    Step("empty-hashes", 1, "manifest", "empty ref/lastCommit -> absent", empty_hashes),
    Step("partial-budget", 1, "manifest", "budget fields from reference defaults", partial_budget),
    Step("empty-sections", 1, "manifest", "missing spec/vibe/artifacts -> {}", empty_sections),
    Step(
        "naive-timestamps", 1, "manifest", "naive date-times + --assume-timezone", naive_timestamps
    ),
    Step(
        "unknown-keys",
        1,
        "manifest",
        "keys the schema lacks -> spec.vibe.x-upgrade.moved",
        unknown_keys,
    ),
)
