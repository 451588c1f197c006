"""Documents written exactly the way the reference system writes them.

``ReferenceMemory`` follows ``ProjectMemoryManager`` (vibe_core/runtime/project_memory.py)
step by step: the memory file is ``<project root>/.vibe/project_memory.json``, written with
``json.dump(memory, f, indent=2)``; ``project_id`` is ``manifest.get("project_id", <root
folder name>)``; a session is numbered ``len(narrative) + 1`` before the narrative is
trimmed to its last 50 entries (so every session after the 50th is numbered 51); intents
carry label confidences and are trimmed to the last 100; concepts, concerns and completed
phases are appended in order of discovery; timestamps are naive
``datetime.now().isoformat()``. Only the clock is ours, so that runs repeat.

The tests use this as the oracle of what real stores hold, independent of the
package's own generator (``shadow_audit.synth``).
"""

from __future__ import annotations

import json
import random
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from hypothesis import strategies as st

from shadow_audit.synth import make_project

INTENT_RULES = (  # _extract_intents: keywords -> (intent, confidence label)
    (("payment", "stripe", "billing", "checkout"), "payment integration", "high"),
    (("test", "pytest", "failing test"), "fix failing tests", "high"),
    (("deploy", "production", "release"), "deployment", "high"),
    (("document", "readme", "docs"), "documentation", "high"),
    (("refactor", "cleanup", "improve"), "refactoring", "medium"),
    (("bug", "fix", "error", "issue"), "bug fixing", "high"),
)
CONCEPT_RULES = {  # _update_domain
    "booking": ["booking", "reservation", "schedule"],
    "payment": ["payment", "stripe", "billing", "checkout"],
    "authentication": ["auth", "login", "user", "signup"],
    "api": ["api", "rest", "graphql", "endpoint"],
    "database": ["database", "sql", "postgres", "migration"],
    "testing": ["test", "pytest", "coverage"],
}
CONCERN_RULES = {
    "PCI compliance": ["pci", "compliance", "security"],
    "performance": ["performance", "slow", "optimize", "speed"],
    "scalability": ["scale", "scaling", "load"],
    "data privacy": ["privacy", "gdpr", "data protection"],
}
WORDS = sorted(
    {w for words, _, _ in INTENT_RULES for w in words}
    | {w for ws in CONCEPT_RULES.values() for w in ws}
    | {w for ws in CONCERN_RULES.values() for w in ws}
    | {"hello", "meeting", "plan"}
)
PHASES = ("PLANNING", "CODING", "TESTING", "DEPLOYMENT", "MAINTENANCE")


class Clock:
    """``datetime.now()`` for the reference code: naive, moving forward, with microseconds."""

    def __init__(self, rng: random.Random, start: datetime | None = None) -> None:
        self.rng = rng
        self.moment = start or datetime(2025, 11, 3, 9, 0, 0, 123456)

    def now(self) -> datetime:
        self.moment += timedelta(
            minutes=self.rng.randrange(1, 3000), microseconds=self.rng.randrange(1, 999_999)
        )
        return self.moment


class ReferenceMemory:
    """``ProjectMemoryManager`` for one project root, with ``now`` as its clock."""

    def __init__(self, project_root: Path, now: Callable[[], datetime]) -> None:
        self.project_root = project_root
        self.memory_file = project_root / ".vibe" / "project_memory.json"
        self.now = now
        (project_root / ".vibe").mkdir(parents=True, exist_ok=True)

    def load(self) -> dict[str, Any]:
        if not self.memory_file.exists():
            return self._create_default_memory()
        with open(self.memory_file) as f:
            memory: dict[str, Any] = json.load(f)
            return memory

    def save(self, memory: dict[str, Any]) -> None:
        with open(self.memory_file, "w") as f:
            json.dump(memory, f, indent=2)

    def update_after_session(
        self, session_summary: str, context: dict[str, Any], user_input: str = ""
    ) -> None:
        memory = self.load()
        session_num = len(memory["narrative"]) + 1
        memory["narrative"].append(
            {
                "session": session_num,
                "summary": session_summary,
                "date": self.now().isoformat(),
                "phase": context.get("session", {}).get("phase", "UNKNOWN"),
            }
        )
        memory["intent_history"].extend(self._extract_intents(user_input, session_num))
        self._update_trajectory(memory, context)
        self._update_domain(memory, context, user_input)
        if len(memory["narrative"]) > 50:
            memory["narrative"] = memory["narrative"][-50:]
        if len(memory["intent_history"]) > 100:
            memory["intent_history"] = memory["intent_history"][-100:]
        self.save(memory)

    def _create_default_memory(self) -> dict[str, Any]:
        return {
            "_schema_version": "1.0",
            "_created": self.now().isoformat(),
            "project_id": self._infer_project_id(),
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

    def _infer_project_id(self) -> str:
        manifest_file = self.project_root / "project_manifest.json"
        if manifest_file.exists():
            with open(manifest_file) as f:
                return str(json.load(f).get("project_id", self.project_root.name))
        return self.project_root.name

    @staticmethod
    def _extract_intents(user_input: str, session_num: int) -> list[dict[str, Any]]:
        lower = user_input.lower()
        return [
            {"session": session_num, "intent": intent, "confidence": label}
            for keywords, intent, label in INTENT_RULES
            if any(kw in lower for kw in keywords)
        ]

    @staticmethod
    def _update_trajectory(memory: dict[str, Any], context: dict[str, Any]) -> None:
        trajectory = memory["trajectory"]
        session = context.get("session", {})
        current_phase = session.get("phase", trajectory["phase"])
        if current_phase != trajectory["phase"]:
            if trajectory["phase"] not in trajectory["completed"]:
                trajectory["completed"].append(trajectory["phase"])
            trajectory["phase"] = current_phase
        if session.get("last_task"):
            trajectory["current_focus"] = session["last_task"]
        tests = context.get("tests", {})
        if tests.get("failing"):
            trajectory["blockers"] = [
                f"{len(tests['failing'])} failing tests in {tests.get('framework', 'pytest')}"
            ]
        else:
            trajectory["blockers"] = []

    @staticmethod
    def _update_domain(memory: dict[str, Any], context: dict[str, Any], user_input: str) -> None:
        domain = memory["domain"]
        manifest = context.get("manifest", {})
        if manifest.get("project_type"):
            domain["type"] = manifest["project_type"]
        lower = user_input.lower()
        for concept, keywords in CONCEPT_RULES.items():
            if any(kw in lower for kw in keywords) and concept not in domain["concepts"]:
                domain["concepts"].append(concept)
        for concern, keywords in CONCERN_RULES.items():
            if any(kw in lower for kw in keywords) and concern not in domain["concerns"]:
                domain["concerns"].append(concern)


def random_session(rng: random.Random) -> tuple[str, dict[str, Any], str]:
    """(summary, context, user input) of one session, as an agent run might produce them."""
    user_input = " ".join(rng.sample(WORDS, rng.randrange(0, 5)))
    session: dict[str, Any] = {}
    if rng.random() < 0.8:  # otherwise the phase is missing: the narrative says UNKNOWN
        session["phase"] = rng.choice(PHASES)
    if rng.random() < 0.7:
        session["last_task"] = f"task {rng.randrange(1000)}"
    context: dict[str, Any] = {"session": session}
    if rng.random() < 0.2:
        context["tests"] = {"failing": ["t"] * rng.randrange(1, 4)}
    if rng.random() < 0.1:
        context["manifest"] = {"project_type": rng.choice(["web", "cli", "data"])}
    summary = f"Session work: {user_input or 'quiet day'} ({rng.random():.6f})"
    return summary, context, user_input


def grow(project_root: Path, sessions: int, rng: random.Random, clock: Clock) -> dict[str, Any]:
    """Run ``sessions`` sessions through the reference code; the memory as written on disk."""
    manager = ReferenceMemory(project_root, clock.now)
    for _ in range(sessions):
        summary, context, user_input = random_session(rng)
        manager.update_after_session(summary, context, user_input)
    return manager.load()


def write_reference_store(
    source: Path, sessions: list[int], *, seed: int = 0
) -> dict[str, tuple[dict[str, Any], dict[str, Any] | None]]:
    """A store as the reference leaves it: per project a folder whose name is not the
    manifest id (``workspace_007`` holds ``ref-project-007``), the manifest written with
    ``json.dump(indent=2)``, and a memory grown over the given number of sessions (0: none).

    Returns:
        {folder name: (manifest, memory or None)}.
    """
    rng = random.Random(seed)
    clock = Clock(rng)
    out: dict[str, tuple[dict[str, Any], dict[str, Any] | None]] = {}
    for i, n in enumerate(sessions):
        folder = f"workspace_{i:03d}"
        manifest, _ = make_project(i, rng)
        manifest["metadata"]["projectId"] = f"ref-project-{i:03d}"
        root = source / folder
        root.mkdir(parents=True)
        with open(root / "project_manifest.json", "w") as f:
            json.dump(manifest, f, indent=2)
        memory = grow(root, n, rng, clock) if n else None
        out[folder] = (manifest, memory)
    return out


JSON_LEAVES = st.none() | st.booleans() | st.integers(-(2**53), 2**53) | st.text(max_size=5)
JSON_VALUES = st.recursive(
    JSON_LEAVES,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=4), inner),
    max_leaves=6,
)
# keys the reference's code never writes, planted in a grown memory: (where, name, value)
UNKNOWN_KEYS = st.lists(
    st.tuples(
        st.sampled_from(["", "domain", "trajectory", "narrative.0", "narrative.-1"]),
        st.text(min_size=1, max_size=6).filter(
            lambda k: k not in {"session", "summary", "date", "phase", "type"}
        ),
        JSON_VALUES,
    ),
    max_size=3,
)


def plant(memory: dict[str, Any], extras: list[tuple[str, str, Any]]) -> None:
    """Put each (where, name, value) of ``UNKNOWN_KEYS`` into ``memory``; the reference's
    own keys keep their values, and a place that does not exist (an empty list) is skipped."""
    covered = {*memory}
    for where, name, value in extras:
        target: Any = memory
        for part in where.split(".") if where else []:
            target = target[int(part)] if isinstance(target, list) else target[part]
            if isinstance(target, list) and not target:
                break
        if isinstance(target, dict) and not (where == "" and name in covered):
            if name in target and where in ("domain", "trajectory"):
                continue
            target[name] = value


class StrSubclass(str):
    """A string that is not exactly ``str`` (jsonschema: still a string; fast paths that
    test ``type(x) is str`` must fall back for it)."""


def grown_memories(root: Path, sessions: tuple[int, ...], *, seed: int) -> list[dict[str, Any]]:
    """Memories grown the reference's way, one per session count, each in a folder of its
    own under ``root`` (e.g. a short one and one past the 50-entry trim).

    Returns:
        The memories, in the order of ``sessions``.
    """
    rng = random.Random(seed)
    clock = Clock(rng)
    return [grow(root / f"grown{n}", n, rng, clock) for n in sessions]
