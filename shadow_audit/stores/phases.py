"""The cutover phase, kept in the shadow database itself: one table holds every transition,
and the current phase is the last one's ``to_phase`` (``shadow`` while there is none).

One INSERT per transition, inside the caller's transaction: a killed process leaves the
phase old or new, never torn, and the history can never disagree with the phase.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from typing import Any, Literal

import orjson

from shadow_audit.errors import DatabaseError

Phase = Literal["shadow", "read-verify", "sqlite-primary", "json-retired"]
PHASES: tuple[Phase, ...] = ("shadow", "read-verify", "sqlite-primary", "json-retired")
SQLITE_TRUTH: frozenset[str] = frozenset({"sqlite-primary", "json-retired"})
PHASE_TABLE = "shadow_audit_phases"

PHASE_DDL = f"""CREATE TABLE IF NOT EXISTS {PHASE_TABLE} (
    "id" INTEGER PRIMARY KEY AUTOINCREMENT,
    "from_phase" TEXT NOT NULL CHECK ("from_phase" IN ({", ".join(f"'{p}'" for p in PHASES)})),
    "to_phase" TEXT NOT NULL CHECK ("to_phase" IN ({", ".join(f"'{p}'" for p in PHASES)})),
    "at" TEXT NOT NULL,
    "evidence" TEXT NOT NULL,
    "forced" INTEGER NOT NULL DEFAULT 0 CHECK ("forced" IN (0, 1)),
    "reason" TEXT
)"""


@dataclass(frozen=True)
class Transition:
    """One recorded move between phases, with the evidence that allowed it."""

    id: int
    from_phase: str
    to_phase: str
    at: str
    evidence: dict[str, Any]
    forced: bool
    reason: str | None

    def to_dict(self) -> dict[str, Any]:
        """Return this Transition as plain data (JSON-ready)."""
        return {
            "id": self.id,
            "from": self.from_phase,
            "to": self.to_phase,
            "at": self.at,
            "forced": self.forced,
            "reason": self.reason,
            "evidence": self.evidence,
        }


def ensure_phase_table(conn: sqlite3.Connection) -> None:
    """Create the phase table when missing (idempotent).

    Args:
        conn: a read-write connection.
    """
    conn.execute(PHASE_DDL)


def _has_table(conn: sqlite3.Connection) -> bool:
    found = conn.execute(
        "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?", (PHASE_TABLE,)
    ).fetchone()
    return found is not None


def read_phase(conn: sqlite3.Connection) -> Phase:
    """The current phase; ``shadow`` for a database that never moved (or has no phase table).

    Args:
        conn: a connection to the database.

    Returns:
        The phase.
    """
    try:
        row = conn.execute(
            f"SELECT to_phase FROM {PHASE_TABLE} ORDER BY id DESC LIMIT 1"
        ).fetchone()
    except sqlite3.OperationalError:
        if _has_table(conn):
            raise
        return "shadow"
    if row is None:
        return "shadow"
    phase = row[0]
    if phase not in PHASES:
        raise DatabaseError(f"table {PHASE_TABLE}: unknown phase {phase!r}")
    return phase  # type: ignore[no-any-return]


def read_transitions(conn: sqlite3.Connection) -> list[Transition]:
    """Every transition, oldest first (none for a database without the phase table).

    Args:
        conn: a connection to the database.

    Returns:
        The transitions.
    """
    if not _has_table(conn):
        return []
    rows = conn.execute(
        f"SELECT id, from_phase, to_phase, at, evidence, forced, reason FROM {PHASE_TABLE} "
        "ORDER BY id"
    ).fetchall()
    return [
        Transition(
            id=r[0],
            from_phase=r[1],
            to_phase=r[2],
            at=r[3],
            evidence=orjson.loads(r[4]),
            forced=bool(r[5]),
            reason=r[6],
        )
        for r in rows
    ]


def record_transition(
    conn: sqlite3.Connection,
    *,
    to_phase: Phase,
    at: str,
    evidence: dict[str, Any],
    forced: bool = False,
    reason: str | None = None,
) -> Transition:
    """Append one transition inside the caller's open write transaction.

    Args:
        conn: a connection inside ``BEGIN IMMEDIATE``.
        to_phase: the phase to move to.
        at: ISO UTC time of the move.
        evidence: the gate's evidence, stored as JSON.
        forced: the move was made although the gate was not READY.
        reason: why (required when forced).

    Returns:
        The recorded transition.
    """
    ensure_phase_table(conn)
    from_phase = read_phase(conn)
    cur = conn.execute(
        f"INSERT INTO {PHASE_TABLE} (from_phase, to_phase, at, evidence, forced, reason) "
        "VALUES (?, ?, ?, ?, ?, ?)",
        (from_phase, to_phase, at, orjson.dumps(evidence).decode(), int(forced), reason),
    )
    return Transition(
        id=int(cur.lastrowid or 0),
        from_phase=from_phase,
        to_phase=to_phase,
        at=at,
        evidence=evidence,
        forced=forced,
        reason=reason,
    )
