"""Realistic generated projects (manifest + memory) for the demo, tests and benchmarks."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from typing import Any

PHASE_MIX = ("PLANNING", "PLANNING", "CODING", "CODING", "TESTING", "DEPLOYMENT", "MAINTENANCE")
SUB_STATES = ("RESEARCH", "BUSINESS_VALIDATION", "FEATURE_SPECIFICATION")
CONCEPTS = (
    "booking",
    "payments",
    "scheduling",
    "notifications",
    "auth",
    "analytics",
    "inventory",
    "search",
    "reporting",
    "billing",
    "onboarding",
    "messaging",
    "calendar",
    "reviews",
    "exports",
)
CONCERNS = ("gdpr", "pci-dss", "latency", "cost", "vendor lock-in", "accessibility", "uptime")
TOPICS = ("schema design", "API contract", "UI mockups", "test plan", "deployment", "retro")
START = datetime(2025, 11, 1, tzinfo=UTC)


def _ts(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def make_project(
    index: int, rng: random.Random, *, sessions: int = 20, concepts: int = 10, concerns: int = 5
) -> tuple[dict[str, Any], dict[str, Any]]:
    """One valid manifest and its memory; sizes are about the given counts.

    Args:
        index: the project's number (its id is ``proj-<index>``).
        rng: the random generator.
        sessions: about this many narrative sessions.
        concepts: about this many domain concepts.
        concerns: about this many domain concerns.

    Returns:
        ``(manifest, memory)``.
    """
    pid = f"proj-{index:06d}"
    created = START + timedelta(hours=rng.randrange(0, 24 * 300))
    updated = created + timedelta(hours=rng.randrange(1, 24 * 20))
    phase = rng.choice(PHASE_MIX)
    status: dict[str, Any] = {
        "projectPhase": phase,
        "lastUpdate": _ts(updated),
        "message": f"{phase.title()} in progress for {pid}",
    }
    if phase == "PLANNING":
        status["planningSubState"] = rng.choice(SUB_STATES)
    max_cost = round(rng.uniform(5, 500), 2)
    manifest: dict[str, Any] = {
        "apiVersion": "agency.os/v1alpha1",
        "kind": "Project",
        "metadata": {
            "projectId": pid,
            "name": f"Project {index}",
            "description": f"Generated project {index} for shadow_audit",
            "owner": f"owner{index % 17}@example.com",
            "createdAt": _ts(created),
            "lastUpdatedAt": _ts(updated),
        },
        "spec": {
            "vibe": {"target_scope": "v1.0", "project_type": rng.choice(["internal", "client"])}
        },
        "status": status,
        "artifacts": {
            "planning": {
                "feature_spec": {"path": f"workspaces/{pid}/features.json", "status": "complete"}
            },
            "code": {},
        },
        "budget": {
            "max_cost_usd": max_cost,
            "current_cost_usd": round(rng.uniform(0, max_cost), 4),
            "alert_threshold": rng.choice([0.5, 0.75, 0.8, 0.9]),
            "cost_breakdown": {
                "research": round(rng.uniform(0, 5), 3),
                "coding": round(rng.uniform(0, 9), 3),
            },
        },
    }
    if rng.random() < 0.3:
        manifest["roadmap"] = {
            "v1.0": {
                "status": "in_progress",
                "timeline": "6 weeks",
                "features": ["core", "billing"],
            }
        }
    n_sessions = max(1, sessions + rng.randint(-2, 2))
    memory = grow_memory(
        pid, rng, created=created, sessions=n_sessions, concepts=concepts, concerns=concerns
    )
    return manifest, memory


# What a session's user input may mention, and what the reference's keyword rules make of
# it (vibe_core/runtime/project_memory.py: _extract_intents, _update_domain).
INTENT_WORDS = (
    ("payment", "payment integration", "high"),
    ("test", "fix failing tests", "high"),
    ("deploy", "deployment", "high"),
    ("docs", "documentation", "high"),
    ("refactor", "refactoring", "medium"),
    ("bug", "bug fixing", "high"),
)
SESSION_PHASES = ("PLANNING", "PLANNING", "CODING", "CODING", "TESTING", None)


def grow_memory(
    project_id: str,
    rng: random.Random,
    *,
    created: datetime,
    sessions: int,
    concepts: int = 10,
    concerns: int = 5,
) -> dict[str, Any]:
    """A memory grown session by session the way the reference's ``update_after_session``
    grows it: session numbered len(narrative) + 1 before the last 50 are kept (so numbers
    repeat after 50), label confidences, intents trimmed to the last 100, concepts and
    concerns appended in order of discovery, naive timestamps with microseconds.

    Args:
        project_id: what the reference puts there: the project folder's name.
        rng: the random source.
        created: the first moment (its offset is dropped: the reference writes naive times).
        sessions: how many sessions to grow.
        concepts: about how many concepts to discover.
        concerns: about how many concerns to discover.

    Returns:
        The memory document.
    """
    moment = created.replace(tzinfo=None, microsecond=rng.randrange(1, 1_000_000))
    memory: dict[str, Any] = {
        "_schema_version": "1.0",
        "_created": moment.isoformat(),
        "project_id": project_id,
        "narrative": [],
        "domain": {"type": "general", "concepts": [], "concerns": []},
        "trajectory": {
            "phase": "PLANNING",
            "completed": [],
            "current_focus": "initialization",
            "blockers": [],
        },
        "intent_history": [],
    }
    pool = {
        "concepts": rng.sample(CONCEPTS, min(concepts, len(CONCEPTS))),
        "concerns": rng.sample(CONCERNS, min(concerns, len(CONCERNS))),
    }
    for _ in range(sessions):
        moment += timedelta(hours=rng.randrange(1, 30), microseconds=rng.randrange(1, 999_999))
        phase = rng.choice(SESSION_PHASES)
        session_num = len(memory["narrative"]) + 1
        memory["narrative"].append(
            {
                "session": session_num,
                "summary": f"Worked on {rng.choice(TOPICS)} ({rng.random():.6f})",
                "date": moment.isoformat(),
                "phase": phase or "UNKNOWN",
            }
        )
        memory["intent_history"] += [
            {"session": session_num, "intent": intent, "confidence": label}
            for _, intent, label in INTENT_WORDS
            if rng.random() < 0.3
        ]
        trajectory = memory["trajectory"]
        if phase and phase != trajectory["phase"]:
            if trajectory["phase"] not in trajectory["completed"]:
                trajectory["completed"].append(trajectory["phase"])
            trajectory["phase"] = phase
        trajectory["current_focus"] = rng.choice(TOPICS)
        failing = rng.random() < 0.2
        trajectory["blockers"] = [f"{rng.randint(1, 9)} failing tests in pytest"] if failing else []
        for name in ("concepts", "concerns"):
            if pool[name] and rng.random() < 0.5:
                found = pool[name].pop(0)
                if found not in memory["domain"][name]:
                    memory["domain"][name].append(found)
        if len(memory["narrative"]) > 50:
            memory["narrative"] = memory["narrative"][-50:]
        if len(memory["intent_history"]) > 100:
            memory["intent_history"] = memory["intent_history"][-100:]
    memory["domain"]["type"] = rng.choice(["saas", "marketplace", "internal-tool"])
    return memory


def make_projects(
    n: int, *, seed: int = 0, **sizes: int
) -> list[tuple[dict[str, Any], dict[str, Any]]]:
    """``n`` projects (manifest, memory) from one seed; sizes as ``make_project`` takes them.

    Args:
        n: how many projects.
        seed: the generator's seed.
        sizes: ``sessions``, ``concepts``, ``concerns`` as ``make_project`` takes them.

    Returns:
        ``[(manifest, memory), ...]``.
    """
    rng = random.Random(seed)  # noqa: S311 - test data, not secrets
    return [make_project(i, rng, **sizes) for i in range(n)]
