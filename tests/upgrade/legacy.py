"""Legacy documents grown the way the reference system grew them, and the fixtures
placed as workspaces (fixture file names are not layouts: their content is copied)."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from tests.conftest import VIBE_FIXTURES

PHASES = ["PLANNING", "PLANNING", "CODING", "CODING", "TESTING"]
CONCEPTS = ["booking", "stripe", "schedule", "capacity", "email", "studio", "membership"]


def grow_gad501(
    sessions: int, *, intents: bool = True, project_id: str | None = None
) -> dict[str, Any]:
    """A GAD-501 memory after ``sessions`` sessions, grown one session at a time:
    each appends a narrative entry (naive ``isoformat()`` timestamp, microseconds), the
    concepts it discovered (unsorted, in order of discovery), the phase it completed,
    and the intents it heard under ``session_NNN`` (some sessions hear none)."""
    memory: dict[str, Any] = {
        "narrative": {"sessions": []},
        "domain": {"project_type": "saas", "key_concepts": [], "concerns": []},
        "trajectory": {
            "phases_completed": [],
            "current_phase": "PLANNING",
            "current_focus": "",
            "blockers": [],
        },
        "user_intents": {},
    }
    if project_id is not None:
        memory = {"project_id": project_id, **memory}
    start = datetime(2025, 11, 14, 9, 30, 0, 123456)
    for n in range(1, sessions + 1):
        phase = PHASES[min(n - 1, len(PHASES) - 1)]
        trajectory = memory["trajectory"]
        if phase != trajectory["current_phase"]:
            trajectory["phases_completed"].append(trajectory["current_phase"])
            trajectory["current_phase"] = phase
        trajectory["current_focus"] = f"session {n} focus"
        memory["narrative"]["sessions"].append(
            {
                "session_id": f"session_{n:03d}",
                "timestamp": (start + timedelta(hours=5 * n, microseconds=n)).isoformat(),
                "description": f"Session {n}: worked on {CONCEPTS[n % len(CONCEPTS)]}",
                "phase": phase,
            }
        )
        concept = CONCEPTS[(3 * n) % len(CONCEPTS)]
        if concept not in memory["domain"]["key_concepts"]:
            memory["domain"]["key_concepts"].append(concept)
        if n == 2:
            memory["domain"]["concerns"].append("payment compliance")
            trajectory["blockers"].append("waiting on Stripe keys")
        if intents and n % 3 != 0:
            memory["user_intents"][f"session_{n:03d}"] = [f"intent {n}a"] + (
                [f"intent {n}b"] if n % 2 else []
            )
    return memory


def fixture_files() -> list[Path]:
    return sorted(VIBE_FIXTURES.glob("*.json")) if VIBE_FIXTURES.is_dir() else []


def reference_verdicts() -> dict[str, str]:
    """File name -> 'valid' / 'invalid', from the fixtures' README table."""
    verdicts = {}
    for line in (VIBE_FIXTURES / "README.md").read_text().splitlines():
        cells = [c.strip() for c in line.split("|")]
        if len(cells) > 3 and cells[1].endswith(".json"):
            verdicts[cells[1]] = cells[2]
    return verdicts


def place(
    source: Path, workspace: str, document: Any | bytes, name: str = "project_manifest.json"
) -> Path:
    """Write a document (or raw bytes) as ``source/<workspace>/<name>``."""
    path = source / workspace / name
    path.parent.mkdir(parents=True, exist_ok=True)
    data = document if isinstance(document, bytes) else json.dumps(document, indent=2).encode()
    path.write_bytes(data)
    return path


def place_fixture(source: Path, fixture: Path) -> Path:
    """A fixture's content as ``source/<its hash prefix>/project_manifest.json``."""
    return place(source, fixture.name.split("__", 1)[0], fixture.read_bytes())
