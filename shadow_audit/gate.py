"""The cutover gate: from the run history, the failure ledger and a policy, READY or NOT READY.

Every reason carries its evidence (run ids, dates, counts) so the verdict can be checked.
The gate judges one shadow against one source: it counts only the runs that audited that
very database (same resolved path and same identity, see ``shadow_identity``) against that
folder, and the newest of them must be recent (``max_age_hours``).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import orjson

from shadow_audit.clock import utc_now, utc_stamp
from shadow_audit.errors import ConfigError, UsageError
from shadow_audit.ledger import FailureLedger, LedgerEntry, default_ledger_path
from shadow_audit.report.history import DEFAULT_HISTORY, History, Run, resolved
from shadow_audit.stores.json_store import atomic_write, no_wider_than
from shadow_audit.stores.sqlite_shadow import shadow_identity
from shadow_audit.text import plural

if TYPE_CHECKING:
    from shadow_audit.config import Config


@dataclass(frozen=True)
class GatePolicy:
    """The ``[gate]`` table of shadow-audit.toml; the defaults are the strict ones."""

    min_green_runs: int = 7
    min_days: float = 7.0
    max_findings: int = 0
    max_ledger_failures: int = 0
    require_complete_coverage: bool = True
    allow_ignore_rules: bool = False
    max_unstable: int = 0  # units that kept changing through the audit's settle time
    max_age_hours: float = 24.0
    # an --incremental schedule must still read everything now and then (--full-every 24)
    max_full_audit_age_hours: float = 48.0

    @classmethod
    def from_config(cls, raw: dict[str, Any]) -> GatePolicy:
        """Build the policy from the ``[gate]`` table of a config file.

        Args:
            raw: the table as TOML gives it; missing keys keep their (strict) defaults.

        Returns:
            The policy.

        Raises:
            ConfigError: an unknown key, or a value of the wrong type or below zero.
        """
        known = {f.name: f.type for f in dataclasses.fields(cls)}
        unknown = sorted(set(raw) - set(known))
        if unknown:
            raise ConfigError(f"gate: unknown keys {unknown} (known: {sorted(known)})")
        values: dict[str, Any] = {}
        for name, value in raw.items():
            default = getattr(cls, name)
            if isinstance(default, bool):
                if not isinstance(value, bool):
                    raise ConfigError(f"gate.{name}: {value!r} is not true or false")
            elif not isinstance(value, int | float) or isinstance(value, bool) or value < 0:
                raise ConfigError(f"gate.{name}: {value!r} is not a number >= 0")
            values[name] = value
        return cls(**values)

    def to_dict(self) -> dict[str, Any]:
        """Return this GatePolicy as plain data (JSON-ready)."""
        return dataclasses.asdict(self)


@dataclass(frozen=True)
class GateReason:
    """One check of the policy: passed or not, why, and the evidence."""

    check: str
    passed: bool
    message: str
    evidence: dict[str, Any]

    def to_dict(self) -> dict[str, Any]:
        """Return this GateReason as plain data (JSON-ready)."""
        return dataclasses.asdict(self)


@dataclass(frozen=True)
class GateSubject:
    """What a verdict is about: one shadow database, by path and identity, and one source."""

    shadow: str = ""
    shadow_id: str = ""
    source: str = ""

    def matches(self, run: Run) -> bool:
        """Return whether ``run`` audited this very database against this source.

        Args:
            run: a run from the history.

        Returns:
            True when the shadow's path and identity match, and the source too when one is set.
        """
        return (
            run.shadow_path == self.shadow
            and run.shadow_id == self.shadow_id
            and (not self.source or run.source_path == self.source)
        )

    def to_dict(self) -> dict[str, str]:
        """Return this GateSubject as plain data (JSON-ready)."""
        return dataclasses.asdict(self)


class Verdict:
    """READY only when every check passed: the gate's decision and a cutover step's."""

    reasons: tuple[GateReason, ...]

    @property
    def ready(self) -> bool:
        """Whether every check passed."""
        return all(r.passed for r in self.reasons)

    @property
    def verdict(self) -> str:
        """``"READY"`` or ``"NOT READY"``."""
        return "READY" if self.ready else "NOT READY"


@dataclass(frozen=True)
class GateDecision(Verdict):
    """The gate's decision: every check with its evidence, and what was judged."""

    decided_at: str
    policy: GatePolicy
    reasons: tuple[GateReason, ...]
    subject: GateSubject = GateSubject()
    notes: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        """Return this GateDecision as plain data (JSON-ready)."""
        return {
            "verdict": self.verdict,
            "ready": self.ready,
            "decided_at": self.decided_at,
            "subject": self.subject.to_dict(),
            "policy": self.policy.to_dict(),
            "reasons": [r.to_dict() for r in self.reasons],
            "notes": list(self.notes),
        }


def _time(stamp: str) -> datetime:
    moment = datetime.fromisoformat(stamp.replace("Z", "+00:00"))
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def decide(
    runs: list[Run],
    *,
    policy: GatePolicy,
    ledger: tuple[LedgerEntry, ...] = (),
    active_rules: int = 0,
    now: datetime | None = None,
    subject: GateSubject = GateSubject(),
    notes: tuple[str, ...] = (),
) -> GateDecision:
    """Decide the cutover from runs that are all of one shadow and source.

    Args:
        runs: the runs of ``subject``, newest first (``judge`` selects them).
        policy: the ``[gate]`` table.
        ledger: the shadow's failure-ledger entries.
        active_rules: how many ignore rules are active now.
        now: decide as of this moment (default: now).
        subject: the shadow and source judged, named in the decision.
        notes: remarks to carry into the decision (e.g. runs not counted).

    Returns:
        The decision, every check with its evidence.
    """
    now = now or utc_now()
    decided = now.isoformat(timespec="seconds")
    reasons: list[GateReason] = []
    if not runs:
        reasons.append(
            GateReason("history", False, "no audit of this shadow is recorded yet", {"runs": 0})
        )
        return GateDecision(decided, policy, tuple(reasons), subject, notes)
    latest = runs[0]
    unstable = latest.counts.get("unstable", 0)
    reasons.append(
        GateReason(
            "findings",
            latest.findings - unstable <= policy.max_findings,
            f"latest run {latest.id} has {plural(latest.findings - unstable, 'finding')} "
            f"(allowed {policy.max_findings})",
            {"run": latest.id, "finished_at": latest.finished_at, "counts": latest.counts},
        )
    )
    reasons.append(
        GateReason(
            "unstable",
            unstable <= policy.max_unstable,
            f"latest run {latest.id} has {plural(unstable, 'unit')} that kept changing while "
            f"re-checked (allowed {policy.max_unstable})",
            {"run": latest.id, "unstable": unstable},
        )
    )
    age = max(0.0, (now - _time(latest.finished_at)).total_seconds() / 3600)
    reasons.append(
        GateReason(
            "fresh",
            age <= policy.max_age_hours,
            f"latest run {latest.id} finished {age:.1f} hours ago "
            f"(allowed {policy.max_age_hours:g})",
            {"run": latest.id, "finished_at": latest.finished_at, "age_hours": round(age, 3)},
        )
    )
    full = next((r for r in runs if r.mode == "full"), None)
    full_age = (now - _time(full.finished_at)).total_seconds() / 3600 if full else None
    reasons.append(
        GateReason(
            "full_audit",
            full_age is not None and full_age <= policy.max_full_audit_age_hours,
            "no full audit is recorded (incremental runs only)"
            if full is None or full_age is None
            else f"the last full audit, run {full.id}, finished {max(0.0, full_age):.1f} hours "
            f"ago (allowed {policy.max_full_audit_age_hours:g})",
            {
                "run": full.id if full else None,
                "age_hours": round(full_age, 3) if full_age else None,
            },
        )
    )
    streak: list[Run] = []
    for run in runs:
        if run.status != "GREEN":
            break
        streak.append(run)
    span = _time(streak[0].finished_at) - _time(streak[-1].started_at) if streak else timedelta(0)
    days = span.total_seconds() / 86400
    evidence = {
        "green_runs": [r.id for r in reversed(streak)],
        "first": streak[-1].started_at if streak else None,
        "last": streak[0].finished_at if streak else None,
        "broken_by": next((r.id for r in runs if r.status != "GREEN"), None),
    }
    reasons.append(
        GateReason(
            "green_streak",
            len(streak) >= policy.min_green_runs,
            f"{plural(len(streak), 'consecutive GREEN run')} (needed {policy.min_green_runs})",
            evidence,
        )
    )
    reasons.append(
        GateReason(
            "baking_period",
            bool(streak) and days >= policy.min_days,
            f"the GREEN streak spans {days:.1f} days (needed {policy.min_days:g})",
            {"days": round(days, 3), "first": evidence["first"], "last": evidence["last"]},
        )
    )
    window_start = _time(streak[-1].started_at) if streak else _time(latest.started_at)
    failures = [e for e in ledger if _time(e.time) >= window_start]
    reasons.append(
        GateReason(
            "shadow_write_failures",
            len(failures) <= policy.max_ledger_failures,
            f"{plural(len(failures), 'shadow-write failure')} since "
            f"{utc_stamp(window_start, timespec='seconds')} "
            f"(allowed {policy.max_ledger_failures})",
            {"failures": [e.to_dict() for e in failures[:20]], "count": len(failures)},
        )
    )
    lost = [p for p in latest.lost_paths.split(",") if p]
    reasons.append(
        GateReason(
            "coverage",
            latest.coverage_complete or not policy.require_complete_coverage,
            "every stored path has a column"
            if latest.coverage_complete
            else f"the shadow cannot hold {plural(len(lost), 'path')}: {', '.join(lost[:10])}",
            {"run": latest.id, "lost_paths": lost},
        )
    )
    reasons.append(
        GateReason(
            "ignore_rules",
            policy.allow_ignore_rules or (active_rules == 0 and latest.ignored == 0),
            f"{plural(active_rules, 'active ignore rule')}; "
            f"{plural(latest.ignored, 'finding')} ignored in run "
            f"{latest.id}",
            {"active_rules": active_rules, "ignored_in_latest": latest.ignored},
        )
    )
    return GateDecision(decided, policy, tuple(reasons), subject, notes)


def judge(
    *,
    shadow: Path | str,
    source: Path | str | None = None,
    history: Path | str | None = None,
    config: Config | None = None,
    ledger: Path | str | None = None,
    now: datetime | None = None,
) -> GateDecision:
    """The gate's rule, for the ``gate`` command and the cutover alike.

    Only runs that audited this very database (same resolved path, same identity) against
    this source count; without ``source``, the source of the newest such run. Runs recorded
    before the history kept identities match nothing.

    Args:
        shadow: the shadow database judged; it must exist (its identity is read).
        source: the source folder; default: the newest matching run's.
        history: the history database; default ``reports/history.db``, which may be
            missing (nothing recorded yet); a file given explicitly must exist.
        config: policy (``[gate]``) and ignore rules; default: the built-in defaults.
        ledger: the failure ledger; default ``<shadow>.failures.jsonl``.
        now: decide as of this moment (default: now).

    Returns:
        The decision, naming the shadow and source it judged.

    Raises:
        DatabaseError: the shadow or an explicit history file is missing or unreadable.
        UsageError: an explicit source folder does not exist.
    """
    from shadow_audit.config import Config, today_utc

    config = config or Config()
    policy = GatePolicy.from_config(config.gate)
    identity = shadow_identity(shadow)
    if source is not None and not Path(source).is_dir():
        raise UsageError(f"source folder {source}: no such folder")
    book = History(history if history is not None else DEFAULT_HISTORY)
    every = book.runs() if history is not None or book.path.exists() else []
    subject = GateSubject(resolved(shadow), identity, resolved(source) if source else "")
    ours = [r for r in every if subject.matches(r)]
    if not source and ours:
        subject = dataclasses.replace(subject, source=ours[0].source_path)
        ours = [r for r in ours if subject.matches(r)]
    notes: list[str] = []
    if not every:
        found = "is empty" if book.path.exists() else "does not exist"
        notes.append(f"history {book.path} {found}: audits record their runs there (--history)")
    elif len(ours) < len(every):
        notes.append(
            f"{len(every) - len(ours)} of {len(every)} runs in {book.path} audited another "
            "shadow or source (or predate identities) and are not counted"
        )
    contents = FailureLedger(ledger or default_ledger_path(shadow)).read()
    if contents.torn:
        torn = plural(contents.torn, "line")
        verb = "is" if contents.torn == 1 else "are"
        notes.append(f"ledger: {torn} cut short by a dying writer {verb} ignored")
    today = now.date() if now else today_utc()
    active = sum(1 for r in config.ignore if r.active(today))
    return decide(
        ours,
        policy=policy,
        ledger=contents.entries,
        active_rules=active,
        now=now,
        subject=subject,
        notes=tuple(notes),
    )


def render_gate_markdown(decision: GateDecision) -> str:
    """Render the decision as Markdown: verdict, what was judged, one table row per check.

    Args:
        decision: the gate's decision.

    Returns:
        The Markdown text.
    """
    icon = "✅" if decision.ready else "⛔"
    s = decision.subject
    lines = [f"# {icon} cutover gate: {decision.verdict}", "", f"decided {decision.decided_at}"]
    lines += ["", f"- shadow: `{s.shadow}` ({s.shadow_id})", f"- source: `{s.source or '-'}`", ""]
    lines += ["| check | result | why |", "|---|---|---|"]
    for r in decision.reasons:
        why = r.message.replace("|", "\\|")
        lines.append(f"| {r.check} | {'pass' if r.passed else 'FAIL'} | {why} |")
    lines += [f"\n{note}" for note in decision.notes]
    return "\n".join(lines) + "\n"


def write_gate(
    decision: GateDecision, out: Path | str, *, mode: int | None = None
) -> tuple[Path, Path]:
    """Write ``gate.json`` and ``gate.md`` atomically into ``out``.

    Args:
        decision: what to write.
        out: the folder (created when missing).
        mode: permission bits; default: no wider than the judged source folder (else
            0o600), like the reports.

    Returns:
        The paths of gate.json and gate.md.

    Raises:
        UsageError: ``out`` cannot be created.
    """
    folder = Path(out)
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UsageError(f"--out {folder}: cannot create: {exc.strerror}") from exc
    if mode is None:
        source = decision.subject.source
        mode = no_wider_than(source) if source and Path(source).is_dir() else 0o600
    data = orjson.dumps(decision.to_dict(), option=orjson.OPT_INDENT_2) + b"\n"
    paths = (folder / "gate.json", folder / "gate.md")
    atomic_write(paths[0], data, mode=mode)
    atomic_write(paths[1], render_gate_markdown(decision).encode(), mode=mode)
    return paths


def run_gate(
    *,
    shadow: Path | str,
    out: Path | str,
    source: Path | str | None = None,
    history: Path | str | None = None,
    config: Config | None = None,
    ledger: Path | str | None = None,
    now: datetime | None = None,
) -> tuple[GateDecision, tuple[Path, Path]]:
    """``judge`` and ``write_gate``: the ``gate`` command's one call.

    Args:
        shadow: as for ``judge``.
        out: as for ``write_gate``.
        source: as for ``judge``.
        history: as for ``judge``.
        config: as for ``judge``.
        ledger: as for ``judge``.
        now: as for ``judge``.

    Returns:
        The decision and the files written.
    """
    decision = judge(
        shadow=shadow, source=source, history=history, config=config, ledger=ledger, now=now
    )
    return decision, write_gate(decision, out)
