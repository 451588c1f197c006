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
    """One valid manifest and its memory; sizes are about the given counts."""
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
    memory: dict[str, Any] = {
        "_schema_version": "1.0",
        "_created": _ts(created),
        "project_id": pid,
        "narrative": [
            {
                "session": s,
                "summary": f"Session {s}: worked on {rng.choice(TOPICS)} ({rng.random():.6f})",
                "date": _ts(created + timedelta(hours=s)),
                "phase": phase,
            }
            for s in range(1, n_sessions + 1)
        ],
        "domain": {
            "type": rng.choice(["saas", "marketplace", "internal-tool"]),
            "concepts": rng.sample(CONCEPTS, min(concepts, len(CONCEPTS))),
            "concerns": rng.sample(CONCERNS, min(concerns, len(CONCERNS))),
        },
        "trajectory": {
            "phase": phase,
            "completed": ["PLANNING"] if phase != "PLANNING" else [],
            "current_focus": rng.choice(TOPICS),
            "blockers": rng.sample(
                ["waiting on client", "API keys", "budget review"], rng.randint(0, 2)
            ),
        },
        "intent_history": [
            {"session": 1, "intent": "start project", "confidence": round(rng.random(), 3)}
        ],
    }
    return manifest, memory


def make_projects(
    n: int, *, seed: int = 0, **sizes: int
) -> list[tuple[dict[str, Any], dict[str, Any]]]:
    rng = random.Random(seed)  # noqa: S311 - test data, not secrets
    return [make_project(i, rng, **sizes) for i in range(n)]
