"""The cutover gate: from the run history, the failure ledger and a policy, READY or NOT READY.

Every reason carries its evidence (run ids, dates, counts) so the verdict can be checked.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from shadow_audit.errors import ConfigError
from shadow_audit.ledger import LedgerEntry
from shadow_audit.report.history import Run


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

    @classmethod
    def from_config(cls, raw: dict[str, Any]) -> GatePolicy:
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
        return dataclasses.asdict(self)


@dataclass(frozen=True)
class GateReason:
    """One check of the policy: passed or not, why, and the evidence."""

    check: str
    passed: bool
    message: str
    evidence: dict[str, Any]

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@dataclass(frozen=True)
class GateDecision:
    """READY only when every check passed."""

    decided_at: str
    policy: GatePolicy
    reasons: tuple[GateReason, ...]

    @property
    def ready(self) -> bool:
        return all(r.passed for r in self.reasons)

    @property
    def verdict(self) -> str:
        return "READY" if self.ready else "NOT READY"

    def to_dict(self) -> dict[str, Any]:
        return {
            "verdict": self.verdict,
            "ready": self.ready,
            "decided_at": self.decided_at,
            "policy": self.policy.to_dict(),
            "reasons": [r.to_dict() for r in self.reasons],
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
) -> GateDecision:
    """Decide the cutover; ``runs`` newest first."""
    now = now or datetime.now(UTC)
    reasons: list[GateReason] = []
    if not runs:
        reasons.append(GateReason("history", False, "no audit is recorded yet", {"runs": 0}))
        return GateDecision(now.isoformat(timespec="seconds"), policy, tuple(reasons))
    latest = runs[0]
    unstable = latest.counts.get("unstable", 0)
    reasons.append(
        GateReason(
            "findings",
            latest.findings - unstable <= policy.max_findings,
            f"latest run {latest.id} has {latest.findings - unstable} findings "
            f"(allowed {policy.max_findings})",
            {"run": latest.id, "finished_at": latest.finished_at, "counts": latest.counts},
        )
    )
    reasons.append(
        GateReason(
            "unstable",
            unstable <= policy.max_unstable,
            f"latest run {latest.id} has {unstable} units that kept changing while it "
            f"re-checked them (allowed {policy.max_unstable})",
            {"run": latest.id, "unstable": unstable},
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
            f"{len(streak)} consecutive GREEN runs (needed {policy.min_green_runs})",
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
            f"{len(failures)} shadow-write failures since {window_start.isoformat()} "
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
            else f"the shadow cannot hold {len(lost)} paths: {', '.join(lost[:10])}",
            {"run": latest.id, "lost_paths": lost},
        )
    )
    reasons.append(
        GateReason(
            "ignore_rules",
            policy.allow_ignore_rules or (active_rules == 0 and latest.ignored == 0),
            f"{active_rules} active ignore rules; {latest.ignored} findings ignored in run "
            f"{latest.id}",
            {"active_rules": active_rules, "ignored_in_latest": latest.ignored},
        )
    )
    return GateDecision(now.isoformat(timespec="seconds"), policy, tuple(reasons))


def render_gate_markdown(decision: GateDecision) -> str:
    icon = "✅" if decision.ready else "⛔"
    lines = [f"# {icon} cutover gate: {decision.verdict}", "", f"decided {decision.decided_at}", ""]
    lines += ["| check | result | why |", "|---|---|---|"]
    for r in decision.reasons:
        lines.append(f"| {r.check} | {'pass' if r.passed else 'FAIL'} | {r.message} |")
    return "\n".join(lines) + "\n"
