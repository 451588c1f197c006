"""The cutover: one phase forward when that step's gate is READY, one phase back losing nothing.

Steps and their gates (every reason carries its evidence, stored with the transition):

- shadow -> read-verify: today's gate (``[gate]``: history, failure ledger, coverage);
- read-verify -> sqlite-primary: the same, and at least ``[cutover] min_verified_reads``
  verified reads since read-verify began, with no mismatch (or SQLite error) among them
  (after a mismatch is repaired the count starts again);
- sqlite-primary -> json-retired: ``[cutover] min_days_primary`` days in sqlite-primary
  with no JSON-backup failure in the ledger.

A transition is one SQLite write transaction (``BEGIN IMMEDIATE``), the lock every save
takes to read the phase: no save commits under the old phase once a move is committed.
A rollback from a phase where SQLite is the truth first writes every document from SQLite
into the JSON files, inside that same transaction; if any write fails nothing moves.
"""

from __future__ import annotations

import sqlite3
from contextlib import closing
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from filelock import FileLock, Timeout

from shadow_audit.clock import utc_stamp
from shadow_audit.config import Config
from shadow_audit.errors import DatabaseError, UsageError
from shadow_audit.export import ExportResult, export_documents
from shadow_audit.gate import GateReason, Verdict, judge
from shadow_audit.ledger import FailureLedger, default_ledger_path
from shadow_audit.mapping import DocumentMap
from shadow_audit.profiles import REFERENCE
from shadow_audit.readcheck import read_checks, reads_log_path
from shadow_audit.store import CutoverPolicy, turnstile_path, write_phase_marker
from shadow_audit.stores.json_store import JsonStore
from shadow_audit.stores.phases import (
    PHASES,
    SQLITE_TRUTH,
    Phase,
    Transition,
    ensure_phase_table,
    read_phase,
    read_transitions,
    record_transition,
)
from shadow_audit.stores.sqlite_shadow import SqliteShadow, connect_readonly
from shadow_audit.text import plural

TRANSITION_TIMEOUT = 60.0  # seconds a move waits for the saves in flight to commit


class PhaseChangedError(UsageError):
    """Another process moved the phase while this move was being decided."""


@dataclass(frozen=True)
class StepDecision(Verdict):
    """The gate of one step: READY only when every check passed."""

    from_phase: str
    to_phase: str
    decided_at: str
    reasons: tuple[GateReason, ...]

    def to_dict(self) -> dict[str, Any]:
        """Return this StepDecision as plain data (JSON-ready)."""
        return {
            "step": f"{self.from_phase} -> {self.to_phase}",
            "verdict": self.verdict,
            "decided_at": self.decided_at,
            "reasons": [r.to_dict() for r in self.reasons],
        }


@dataclass(frozen=True)
class CutoverOutcome:
    """What ``advance`` or ``rollback`` did: moved or not, why, and what it exported."""

    moved: bool
    from_phase: str
    to_phase: str
    decision: StepDecision | None = None
    transition: Transition | None = None
    exported: ExportResult | None = None


@dataclass(frozen=True)
class CutoverStatus:
    """The current phase and every transition that led to it."""

    phase: Phase
    transitions: tuple[Transition, ...] = field(default_factory=tuple)


def _instant(stamp: str) -> datetime:
    moment = datetime.fromisoformat(stamp.replace("Z", "+00:00"))
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def cutover_status(shadow: Path | str, *, mapping: DocumentMap = REFERENCE) -> CutoverStatus:
    """Read the phase and its history (read-only).

    Args:
        shadow: the SQLite file.
        mapping: the map of the shadow's tables (a database without its root table is
            not a shadow).

    Returns:
        The phase and the transitions, oldest first.

    Raises:
        DatabaseError: the file is missing, not SQLite, or not a shadow.
    """
    with closing(connect_readonly(shadow)) as conn:
        _require_shadow(conn, Path(shadow), mapping)
        return CutoverStatus(read_phase(conn), tuple(read_transitions(conn)))


def _require_shadow(conn: sqlite3.Connection, shadow: Path, mapping: DocumentMap) -> None:
    """Refuse a database without the mapping's root table (another SQLite file, such as
    the audit history): its phase would read ``shadow``, a forced move would add a table
    to it, an export would write nothing true."""
    root = mapping.root.table
    found = conn.execute(
        "SELECT 1 FROM sqlite_master WHERE type IN ('table', 'view') AND name = ?", (root,)
    ).fetchone()
    if found is None:
        raise DatabaseError(f"database {shadow}: no table {root}: not a shadow database")


def _entered(transitions: tuple[Transition, ...], phase: str) -> str | None:
    """When the current stay in ``phase`` began (the last move into it)."""
    for t in reversed(transitions):
        if t.to_phase == phase:
            return t.at
    return None


def _gate_reasons(
    shadow: Path, source: Path, history: Path | None, config: Config, now: datetime
) -> list[GateReason]:
    """Today's gate, as ``shadow-audit gate`` decides it (only runs of this shadow count)."""
    return list(
        judge(shadow=shadow, source=source, history=history, config=config, now=now).reasons
    )


def _read_reasons(shadow: Path, since: str | None, policy: CutoverPolicy) -> GateReason:
    """Verified reads since read-verify began; the clean run after the last failed one."""
    start = _instant(since) if since else None
    checks = [
        c for c in read_checks(reads_log_path(shadow)) if start is None or _instant(c.time) >= start
    ]
    bad = [c for c in checks if not c.matched]
    clean = len(checks)
    if bad:
        clean = len(checks) - 1 - max(i for i, c in enumerate(checks) if not c.matched)
    last = bad[-1] if bad else None
    return GateReason(
        "verified_reads",
        clean >= policy.min_verified_reads,
        f"{clean} verified reads without a mismatch since "
        f"{'the last mismatch' if last else 'read-verify began'} "
        f"(needed {policy.min_verified_reads}); {len(checks)} verified, {len(bad)} failed",
        {
            "since": since,
            "verified": len(checks),
            "failed": len(bad),
            "clean_streak": clean,
            "last_failure": None
            if last is None
            else {
                "key": last.key,
                "time": last.time,
                "error": last.error,
                "findings": list(last.findings[:5]),
            },
        },
    )


def _primary_reasons(
    shadow: Path, since: str | None, policy: CutoverPolicy, now: datetime
) -> list[GateReason]:
    start = _instant(since) if since else now
    days = (now - start).total_seconds() / 86400
    ledger = FailureLedger(default_ledger_path(shadow)).read()
    failures = [e for e in ledger.entries if _instant(e.time) >= start]
    return [
        GateReason(
            "days_primary",
            days >= policy.min_days_primary,
            f"{days:.1f} days in sqlite-primary (needed {policy.min_days_primary:g})",
            {"since": since, "days": round(days, 3)},
        ),
        GateReason(
            "backup_failures",
            not failures,
            f"{plural(len(failures), 'JSON-backup failure')} since {utc_stamp(start)} (allowed 0)",
            {"count": len(failures), "failures": [e.to_dict() for e in failures[:20]]},
        ),
    ]


def decide_step(
    source: Path | str,
    shadow: Path | str,
    *,
    history: Path | str | None = None,
    config: Config | None = None,
    now: datetime | None = None,
) -> StepDecision:
    """The gate of the next step forward from the current phase.

    Args:
        source: the JSON folder the audits in the history must have read.
        shadow: the SQLite file.
        history: the audit history database (for today's gate).
        config: ``[gate]`` and ``[cutover]`` policies (defaults when omitted).
        now: decide as of this time (default: now).

    Returns:
        The decision, every reason with its evidence.

    Raises:
        UsageError: the phase is already the last one.
        DatabaseError, ConfigError: unreadable database, malformed policy.
    """
    config = config or Config()
    now = now or datetime.now(UTC)
    db = Path(shadow)
    status = cutover_status(db, mapping=config.mapping)
    current = status.phase
    if current == PHASES[-1]:
        raise UsageError(f"database {db}: already {current}; there is no phase after it")
    target = PHASES[PHASES.index(current) + 1]
    policy = CutoverPolicy.from_config(config.cutover, path=config.path)
    hist = Path(history) if history is not None else None
    reasons: list[GateReason] = []
    if target in ("read-verify", "sqlite-primary"):
        reasons += _gate_reasons(db, Path(source), hist, config, now)
    if target == "sqlite-primary":
        reasons.append(_read_reasons(db, _entered(status.transitions, current), policy))
    if target == "json-retired":
        reasons += _primary_reasons(db, _entered(status.transitions, current), policy, now)
    return StepDecision(current, target, utc_stamp(now), tuple(reasons))


def _move(
    shadow: Path,
    config: Config,
    *,
    expect: Phase,
    to: Phase,
    at: datetime,
    evidence: dict[str, Any],
    forced: bool,
    reason: str | None,
    export_to: Path | None = None,
) -> tuple[Transition, ExportResult | None]:
    """One transaction: check the phase is still ``expect``, export if asked, record the move.

    The marker file is written before the commit when moving to a SQLite-truth phase and
    after it otherwise, so that it never claims JSON is the truth while SQLite is.
    """
    db = SqliteShadow(shadow, config.mapping, create=False, busy_timeout=TRANSITION_TIMEOUT)
    if not shadow.is_file():
        raise DatabaseError(f"database {shadow}: no such file")
    exported = None
    try:
        with (
            FileLock(str(turnstile_path(shadow)), timeout=TRANSITION_TIMEOUT),
            db.transaction() as conn,
        ):
            _require_shadow(conn, shadow, config.mapping)
            ensure_phase_table(conn)
            current = read_phase(conn)
            if current != expect:
                raise PhaseChangedError(f"database {shadow}: phase is now {current}, not {expect}")
            if export_to is not None:
                exported = export_documents(
                    conn, config.mapping, JsonStore(export_to, config.mapping)
                )
                evidence = {**evidence, "exported": exported.to_dict()}
            transition = record_transition(
                conn, to_phase=to, at=utc_stamp(at), evidence=evidence, forced=forced, reason=reason
            )
            if to in SQLITE_TRUTH:
                write_phase_marker(shadow, to)
    except (sqlite3.Error, Timeout) as exc:
        raise DatabaseError(f"database {shadow}: the move to {to} did not happen: {exc}") from exc
    if to not in SQLITE_TRUTH:
        write_phase_marker(shadow, to)
    return transition, exported


def _check_source(source: Path, transitions: tuple[Transition, ...]) -> None:
    """Refuse to bring a folder up to date that is not the one the cutover was decided on
    (a typo in ``--source`` would leave the application's JSON stale after the rollback).
    A recorded folder that no longer exists (moved by its owner) is not held against it."""
    recorded = next(
        (t.evidence["source"] for t in reversed(transitions) if "source" in t.evidence), None
    )
    if recorded is None or not Path(recorded).is_dir():
        return
    if Path(recorded).resolve() != source.resolve():
        raise UsageError(
            f"--source {source}: the cutover was decided on the JSON folder {recorded}; "
            "a rollback brings that folder up to date (nothing moved)"
        )


def advance(
    source: Path | str,
    shadow: Path | str,
    *,
    history: Path | str | None = None,
    config: Config | None = None,
    force: bool = False,
    reason: str | None = None,
    now: datetime | None = None,
) -> CutoverOutcome:
    """Move one phase forward when the step's gate is READY (or when forced, with a reason).

    Args:
        source: the JSON folder (the audits the gate counts must have read it; not written).
        shadow: the SQLite file holding the phase.
        history: the audit history database.
        config: policies and mapping.
        force: move although the gate is NOT READY (recorded, with ``reason``).
        reason: why; required with ``force``.
        now: the time of the decision and of the transition (a simulated clock in the demo).

    Returns:
        The outcome; ``moved`` is False when the gate is NOT READY (see ``decision``).

    Raises:
        UsageError: ``force`` without a reason, or no phase after the current one.
        PhaseChangedError: another process moved the phase meanwhile.
    """
    if force and not (reason and reason.strip()):
        raise UsageError("--force needs --reason TEXT: a forced move records why")
    config = config or Config()
    now = now or datetime.now(UTC)
    decision = decide_step(source, shadow, history=history, config=config, now=now)
    if not decision.ready and not force:
        return CutoverOutcome(False, decision.from_phase, decision.to_phase, decision)
    transition, _ = _move(
        Path(shadow),
        config,
        expect=decision.from_phase,  # type: ignore[arg-type]
        to=decision.to_phase,  # type: ignore[arg-type]
        at=now,
        evidence={**decision.to_dict(), "source": str(Path(source).resolve())},
        forced=not decision.ready,
        reason=reason,
    )
    return CutoverOutcome(True, decision.from_phase, decision.to_phase, decision, transition)


def rollback(
    source: Path | str,
    shadow: Path | str,
    *,
    config: Config | None = None,
    reason: str | None = None,
    now: datetime | None = None,
) -> CutoverOutcome:
    """Move one phase back; from a SQLite-truth phase, first bring the JSON up to date.

    Args:
        source: the JSON folder, rewritten from SQLite when leaving a SQLite-truth phase.
        shadow: the SQLite file holding the phase.
        config: the mapping.
        reason: why, recorded with the transition.
        now: the time of the transition.

    Returns:
        The outcome, with what was exported.

    Raises:
        UsageError: already in the first phase.
        ExportError: a JSON file could not be written; nothing moved.
        PhaseChangedError: another process moved the phase meanwhile.
    """
    config = config or Config()
    db = Path(shadow)
    status = cutover_status(db, mapping=config.mapping)
    current = status.phase
    if current == PHASES[0]:
        raise UsageError(f"database {db}: already {current}; there is no phase before it")
    target = PHASES[PHASES.index(current) - 1]
    if current in SQLITE_TRUTH:
        _check_source(Path(source), status.transitions)
    transition, exported = _move(
        db,
        config,
        expect=current,
        to=target,
        at=now or datetime.now(UTC),
        evidence={"step": f"{current} -> {target}", "rollback": True},
        forced=False,
        reason=reason,
        export_to=Path(source) if current in SQLITE_TRUTH else None,
    )
    return CutoverOutcome(True, current, target, None, transition, exported)


def export_json(
    shadow: Path | str,
    out: Path | str,
    *,
    config: Config | None = None,
    overwrite: bool = False,
) -> ExportResult:
    """The JSON archive of everything SQLite holds, written atomically under ``out``.

    Args:
        shadow: the SQLite file (opened read-only).
        out: the folder to write (created when missing).
        config: the mapping.
        overwrite: replace files that hold other documents (by default the export refuses,
            writing nothing, so that pointing it at the JSON truth cannot destroy edits).

    Returns:
        The counts.

    Raises:
        DatabaseError: the database is missing, not SQLite, or has no table of the mapping's
            root (another SQLite file, such as the audit history).
        ExportError: a file could not be written, or would be replaced without ``overwrite``.
    """
    config = config or Config()
    target = Path(out)
    with closing(connect_readonly(shadow)) as conn:  # a bad database creates no folder
        _require_shadow(conn, Path(shadow), config.mapping)
        try:
            target.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise UsageError(f"--out {target}: cannot create: {exc.strerror}") from exc
        return export_documents(
            conn, config.mapping, JsonStore(target, config.mapping), overwrite=overwrite
        )
