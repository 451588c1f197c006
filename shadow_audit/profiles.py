"""The built-in profile: the reference system's documents and its schema-v2 tables."""

from __future__ import annotations

from collections.abc import Mapping as MappingABC
from typing import Any

from shadow_audit.mapping import (
    ELEMENT,
    POSITION,
    DocumentMap,
    DocumentSpec,
    Entity,
    Field,
    derivation,
)

PHASES = (
    "PLANNING",
    "AWAITING_CODE_GENERATION",
    "CODING",
    "TESTING",
    "DEPLOYMENT",
    "MAINTENANCE",
    "PRODUCTION",
)
SUB_STATES = ("RESEARCH", "BUSINESS_VALIDATION", "FEATURE_SPECIFICATION", "ARCHITECTURE_DESIGN")
MISSION_STATUSES = ("pending", "in_progress", "completed", "failed")
DEFAULT_DB_PATH = ".vibe/state/vibe_agency.db"

# The reference system's schema v2 for the five audited tables, as its database
# has them: no columns for name, status message, roadmap, domain type, intent
# history; a phase CHECK that rejects AWAITING_CODE_GENERATION, a sub-state
# CHECK that rejects ARCHITECTURE_DESIGN.
REFERENCE_V2_DDL = """
CREATE TABLE missions (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    mission_uuid TEXT NOT NULL UNIQUE,
    phase TEXT NOT NULL CHECK (phase IN ('PLANNING', 'CODING', 'TESTING', 'DEPLOYMENT',
                                         'MAINTENANCE', 'PRODUCTION')),
    status TEXT NOT NULL CHECK (status IN ('pending','in_progress','completed','failed')),
    created_at TEXT NOT NULL,
    completed_at TEXT,
    updated_at TEXT,
    planning_sub_state TEXT CHECK (planning_sub_state IN ('RESEARCH', 'BUSINESS_VALIDATION',
                                                           'FEATURE_SPECIFICATION')),
    max_cost_usd REAL,
    current_cost_usd REAL DEFAULT 0.0,
    alert_threshold REAL DEFAULT 0.80,
    cost_breakdown TEXT,
    owner TEXT,
    description TEXT,
    api_version TEXT DEFAULT 'agency.os/v1alpha1',
    metadata TEXT
);
CREATE TABLE session_narrative (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    mission_id INTEGER NOT NULL REFERENCES missions(id) ON DELETE CASCADE,
    session_num INTEGER NOT NULL,
    summary TEXT NOT NULL,
    date TEXT NOT NULL,
    phase TEXT NOT NULL,
    UNIQUE (mission_id, session_num)
);
CREATE TABLE domain_concepts (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    mission_id INTEGER NOT NULL REFERENCES missions(id) ON DELETE CASCADE,
    concept TEXT NOT NULL,
    timestamp TEXT NOT NULL,
    UNIQUE (mission_id, concept)
);
CREATE TABLE domain_concerns (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    mission_id INTEGER NOT NULL REFERENCES missions(id) ON DELETE CASCADE,
    concern TEXT NOT NULL,
    timestamp TEXT NOT NULL,
    UNIQUE (mission_id, concern)
);
CREATE TABLE trajectory (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    mission_id INTEGER NOT NULL UNIQUE REFERENCES missions(id) ON DELETE CASCADE,
    current_phase TEXT NOT NULL,
    current_focus TEXT,
    completed_phases TEXT,
    blockers TEXT,
    updated_at TEXT NOT NULL
);
"""


@derivation("mission_status")
def mission_status(document: MappingABC[str, Any]) -> str:
    """``completed`` once ``status.completedAt`` is set or the phase is PRODUCTION.

    Args:
        document: the manifest.

    Returns:
        ``"completed"`` or ``"in_progress"``.
    """
    status = document.get("status") or {}
    done = status.get("completedAt") or status.get("projectPhase") == "PRODUCTION"
    return "completed" if done else "in_progress"


def _f(column: str, path: str, **options: Any) -> Field:
    return Field(column=column, path=path, **options)


MISSIONS = Entity(
    table="missions",
    document="manifest",
    key_column="mission_uuid",
    key_path="metadata.projectId",
    fields=(
        _f("phase", "status.projectPhase", choices=PHASES, not_null=True),
        Field("status", derive="mission_status", choices=MISSION_STATUSES, not_null=True),
        _f("created_at", "metadata.createdAt", type="timestamp", not_null=True),
        _f("completed_at", "status.completedAt", type="timestamp"),
        _f("updated_at", "metadata.lastUpdatedAt", type="timestamp"),
        _f("planning_sub_state", "status.planningSubState", choices=SUB_STATES),
        _f("max_cost_usd", "budget.max_cost_usd", type="real", abs_tol=1e-9, rel_tol=1e-9),
        _f("current_cost_usd", "budget.current_cost_usd", type="real", abs_tol=1e-9, rel_tol=1e-9),
        _f("alert_threshold", "budget.alert_threshold", type="real", abs_tol=1e-9, rel_tol=1e-9),
        _f("cost_breakdown", "budget.cost_breakdown", type="json"),
        _f("owner", "metadata.owner"),
        _f("description", "metadata.description"),
        _f("api_version", "apiVersion"),
        Field(
            "metadata",
            type="json",
            paths=(("artifacts", "artifacts"), ("kind", "kind"), ("spec", "spec")),
        ),
        # Columns the reference system did not have: without them a read from
        # SQLite after cutover would lose these paths.
        _f("name", "metadata.name", reference=False),
        _f("status_message", "status.message", reference=False),
        _f("status_updated_at", "status.lastUpdate", type="timestamp", reference=False),
        _f("roadmap", "roadmap", type="json", reference=False),
        # Everything else the manifest holds (keys its schema never listed, explicit
        # nulls, empty objects): kept as JSON, so a read after cutover loses nothing.
        Field("extra", type="json", rest=True, reference=False),
    ),
)

_CHILD: dict[str, Any] = {"document": "memory", "parent": "missions", "link_column": "mission_id"}

# The list position is the key: the reference numbers a new session len(narrative) + 1
# and then keeps the last 50, so after 50 sessions every new entry is numbered 51.
# A database keyed (mission, session_num), as the reference's v2 is, is read by that key.
SESSION_NARRATIVE = Entity(
    table="session_narrative",
    key_column="position",
    key_path=POSITION,
    key_type="integer",
    rows_from="narrative",
    legacy_key=("session_num", "session"),
    fields=(
        _f("session_num", "session", type="integer", not_null=True),
        _f("summary", "summary", not_null=True),
        _f("date", "date", not_null=True),
        _f("phase", "phase", not_null=True),
    ),
    **_CHILD,
)


def _domain_list(table: str, column: str, path: str) -> Entity:
    return Entity(
        table=table,
        key_column=column,
        key_path=ELEMENT,
        rows_from=path,
        set_like=True,
        fields=(
            Field("timestamp", fill="now", not_null=True),
            # order of discovery, as the reference appends them: stored (a rebuilt list
            # comes back in order), compared as a set (the list is set-like)
            Field("position", path=POSITION, type="integer", compare=False, reference=False),
        ),
        **_CHILD,
    )


TRAJECTORY = Entity(
    table="trajectory",
    key_column=None,
    fields=(
        _f("current_phase", "trajectory.phase", not_null=True),
        _f("current_focus", "trajectory.current_focus"),
        _f("completed_phases", "trajectory.completed", type="json"),
        _f("blockers", "trajectory.blockers", type="json", set_like=True),
        Field("updated_at", fill="now", not_null=True),
        # Memory-level fields the reference system dropped; the trajectory row
        # is the one row per memory document, so they live here.
        _f("domain_type", "domain.type", reference=False),
        _f("intent_history", "intent_history", type="json", reference=False),
        _f("memory_schema_version", "_schema_version", reference=False),
        _f("memory_created", "_created", reference=False),
        # the memory's own project_id: data (in practice its folder's name), not a link
        _f("memory_project_id", "project_id", reference=False),
        Field("extra", type="json", rest=True, reference=False),
    ),
    **_CHILD,
)

REFERENCE = DocumentMap(
    name="reference",
    primary=DocumentSpec(
        name="manifest",
        pattern="*/project_manifest.json",
        schema="manifest",
        key_path="metadata.projectId",
    ),
    companions=(
        # found in its unit's folder, whatever its project_id says: where the reference
        # writes it (.vibe/) or beside the manifest
        DocumentSpec(
            name="memory",
            pattern=".vibe/project_memory.json",
            also=("project_memory.json",),
            schema="memory",
        ),
    ),
    entities=(
        MISSIONS,
        SESSION_NARRATIVE,
        _domain_list("domain_concepts", "concept", "domain.concepts"),
        _domain_list("domain_concerns", "concern", "domain.concerns"),
        TRAJECTORY,
    ),
)
