"""Finding kinds and the typed result of an audit."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    import pandas as pd

FINDING_KINDS = (
    "missing_in_shadow",
    "extra_in_shadow",
    "value_mismatch",
    "invalid_source",
    "duplicate_key",
    "unstable",
)
# Kinds that say the stores differ; ``unstable`` (a unit that kept changing while the
# re-check looked at it) is reported and bounded by the gate, but is not drift.
DRIFT_KINDS = FINDING_KINDS[:5]
FINDING_COLUMNS = (
    "kind",
    "entity",
    "key",
    "field",
    "path",
    "document",
    "source_value",
    "shadow_value",
    "detail",
)
Status = Literal["GREEN", "RED"]


@dataclass(frozen=True)
class Finding:
    """One difference between the source of truth and the shadow."""

    kind: str
    entity: str
    key: str
    field: str | None = None
    path: str | None = None
    document: str | None = None
    source_value: Any = None
    shadow_value: Any = None
    detail: Any = None

    @property
    def identity(self) -> tuple[str, str, str, str]:
        """What makes a finding the same one across runs: (kind, entity, key, field)."""
        return (self.kind, self.entity, self.key, self.field or "")

    def to_dict(self) -> dict[str, Any]:
        """The finding as report.json lists it.

        Returns:
            ``{kind, entity, key, field, path, document, source_value, shadow_value,
            detail}``.
        """
        return {name: getattr(self, name) for name in FINDING_COLUMNS}


@dataclass(frozen=True)
class IgnoredFinding:
    """A finding an active ignore rule covers: counted and listed, never dropped."""

    finding: Finding
    rule: str
    reason: str
    expires: str

    def to_dict(self) -> dict[str, Any]:
        """The finding's fields plus the rule that covers it.

        Returns:
            ``Finding.to_dict()`` with ``rule``, ``reason`` and ``expires``.
        """
        return {
            **self.finding.to_dict(),
            "rule": self.rule,
            "reason": self.reason,
            "expires": self.expires,
        }


@dataclass(frozen=True)
class EntitySummary:
    """Row counts for one table."""

    entity: str
    source_rows: int = 0
    shadow_rows: int = 0
    matched: int = 0
    mismatched: int = 0
    missing_in_shadow: int = 0
    extra_in_shadow: int = 0
    compared_columns: int = 0

    def to_dict(self) -> dict[str, Any]:
        """The counts as report.json's ``summary`` lists them.

        Returns:
            The row counts by name (every field but ``entity``).
        """
        return {
            "source_rows": self.source_rows,
            "shadow_rows": self.shadow_rows,
            "matched": self.matched,
            "mismatched": self.mismatched,
            "missing_in_shadow": self.missing_in_shadow,
            "extra_in_shadow": self.extra_in_shadow,
            "compared_columns": self.compared_columns,
        }


@dataclass(frozen=True)
class Coverage:
    """What the shadow cannot hold: unmapped source paths, columns and tables it lacks."""

    unmapped_paths: tuple[dict[str, Any], ...] = ()
    missing_columns: tuple[dict[str, Any], ...] = ()
    missing_tables: tuple[str, ...] = ()
    # paths no column stores that the document's extra JSON column keeps (not lost)
    kept_as_extra: tuple[dict[str, Any], ...] = ()

    @property
    def complete(self) -> bool:
        """True when the shadow can hold every source path the documents use."""
        return not (self.unmapped_paths or self.missing_columns or self.missing_tables)

    @property
    def lost_paths(self) -> tuple[str, ...]:
        """Source paths a read from the shadow would lose."""
        return tuple(
            sorted(
                {c["path"] for c in self.missing_columns} | {p["path"] for p in self.unmapped_paths}
            )
        )

    def to_dict(self) -> dict[str, Any]:
        """The coverage as report.json lists it.

        Returns:
            ``{complete, unmapped_paths, missing_columns, missing_tables, lost_paths}``.
        """
        return {
            "complete": self.complete,
            "unmapped_paths": list(self.unmapped_paths),
            "missing_columns": list(self.missing_columns),
            "missing_tables": list(self.missing_tables),
            "lost_paths": list(self.lost_paths),
            "kept_as_extra": list(self.kept_as_extra),
        }


@dataclass(frozen=True)
class RecheckSummary:
    """What the re-check of units with findings resolved: the load the audit ran under."""

    units: int = 0  # units re-checked (had findings in the pass over both stores)
    consistent: int = 0  # of those, equal on the locked read: a save was in flight
    transient: dict[str, int] = field(default_factory=dict)  # findings resolved, per kind
    drift_units: int = 0  # units whose difference held (reported as findings)
    unstable_units: int = 0  # units that kept changing (reported as ``unstable``)
    settle_seconds: float = 0.0
    rounds: int = 0  # re-reads of the units still differing, all units together
    waited_seconds: float = 0.0  # first locked read of a unit still differing -> last re-read

    def to_dict(self) -> dict[str, Any]:
        """Return this RecheckSummary as plain data (JSON-ready)."""
        return {
            "units": self.units,
            "consistent": self.consistent,
            "transient": {k: self.transient.get(k, 0) for k in DRIFT_KINDS},
            "drift_units": self.drift_units,
            "unstable_units": self.unstable_units,
            "settle_seconds": self.settle_seconds,
            "rounds": self.rounds,
            "waited_seconds": round(self.waited_seconds, 4),
        }


@dataclass(frozen=True)
class IncrementalSummary:
    """How an ``--incremental`` audit ran: what it re-read, or why it audited in full."""

    documents_reread: int = 0  # source documents read again (every one in a full audit)
    shadow_keys_changed: int = 0  # document keys the change record listed since the last run
    units_audited: int = 0  # units compared again
    fallback: str | None = None  # why this run audited in full (None: it did not have to)
    last_full_at: str | None = None  # when the last full audit of this state ran

    def to_dict(self) -> dict[str, Any]:
        """Return this IncrementalSummary as plain data (JSON-ready)."""
        return {
            "documents_reread": self.documents_reread,
            "shadow_keys_changed": self.shadow_keys_changed,
            "units_audited": self.units_audited,
            "fallback": self.fallback,
            "last_full_at": self.last_full_at,
        }


@dataclass(frozen=True)
class AuditResult:
    """Everything an audit found, ready to render or to analyse as DataFrames."""

    source: str
    shadow: str
    started_at: str
    finished_at: str
    summary: dict[str, EntitySummary]
    findings: tuple[Finding, ...]
    coverage: Coverage
    ignored: tuple[IgnoredFinding, ...] = ()
    normalizers: dict[str, int] = field(default_factory=dict)
    timings: dict[str, float] = field(default_factory=dict)
    documents: int = 0
    recheck: RecheckSummary | None = None
    truth: Literal["json", "sqlite"] = "json"  # which store the findings take as the truth
    mode: Literal["full", "incremental"] = "full"  # incremental: only what changed was read
    incremental: IncrementalSummary | None = None  # set when run with ``incremental=True``

    @property
    def status(self) -> Status:
        """GREEN when nothing but unstable units was found and every mapped table exists."""
        drift = any(f.kind != "unstable" for f in self.findings)
        return "RED" if drift or self.coverage.missing_tables else "GREEN"

    def counts(self) -> dict[str, int]:
        """Findings per kind.

        Returns:
            kind -> count, for every kind (zero when none).
        """
        counts = dict.fromkeys(FINDING_KINDS, 0)
        for f in self.findings:
            counts[f.kind] = counts.get(f.kind, 0) + 1
        return counts

    def findings_frame(self) -> pd.DataFrame:
        """The findings as a DataFrame (loads pandas).

        Returns:
            One row per finding, with the columns of ``Finding.to_dict()``.
        """
        import pandas as pd

        return pd.DataFrame([f.to_dict() for f in self.findings], columns=list(FINDING_COLUMNS))

    def summary_frame(self) -> pd.DataFrame:
        """The per-table counts as a DataFrame (loads pandas).

        Returns:
            One row per table, indexed by ``entity`` (empty when no table was compared).
        """
        import pandas as pd

        rows = [{"entity": name, **s.to_dict()} for name, s in self.summary.items()]
        return pd.DataFrame(rows).set_index("entity") if rows else pd.DataFrame()

    def to_dict(self) -> dict[str, Any]:
        """The result as report.json holds it (schemas/audit_report.schema.json).

        Returns:
            Status, stores, times, counts, summary, coverage, findings, ignored
            findings, normalizer counts and phase timings.
        """
        return {
            "status": self.status,
            "truth": self.truth,
            "source": self.source,
            "shadow": self.shadow,
            "started_at": self.started_at,
            "finished_at": self.finished_at,
            "documents": self.documents,
            "counts": self.counts(),
            "summary": {name: s.to_dict() for name, s in self.summary.items()},
            "coverage": self.coverage.to_dict(),
            "findings": [f.to_dict() for f in self.findings],
            "ignored_findings": [i.to_dict() for i in self.ignored],
            "normalizers": dict(self.normalizers),
            "timings": {k: round(v, 4) for k, v in self.timings.items()},
            "recheck": self.recheck.to_dict() if self.recheck is not None else None,
            "mode": self.mode,
            "incremental": self.incremental.to_dict() if self.incremental else None,
        }
