"""audit(): load both stores, compare every table, classify, apply ignore rules."""

from __future__ import annotations

import dataclasses
import os
import time
from collections import Counter
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from shadow_audit.clock import utc_stamp
from shadow_audit.config import Config, today_utc
from shadow_audit.engine.compare import NORMALIZERS, classify, findings_for
from shadow_audit.engine.coverage import split_unmapped
from shadow_audit.engine.findings import (
    AuditResult,
    Coverage,
    EntitySummary,
    Finding,
    IncrementalSummary,
)
from shadow_audit.engine.ignore import apply_rules as _apply_rules
from shadow_audit.engine.incremental import (
    DEFAULT_FULL_EVERY,
    Collected,
    Tally,
    check_full_every,
)
from shadow_audit.engine.incremental_run import run_incremental
from shadow_audit.engine.load import ShadowRows, gc_paused, load_shadow
from shadow_audit.engine.recheck import LIBRARY_SETTLE, check_settle, recheck_findings
from shadow_audit.engine.roles import swap_roles, truth_of
from shadow_audit.engine.source import SourceRows, SourceScan
from shadow_audit.errors import UsageError
from shadow_audit.mapping import DocumentMap
from shadow_audit.progress import Progress, begin_phase
from shadow_audit.stores.files import FilePolicy

if TYPE_CHECKING:
    from shadow_audit.engine.distributed import DaskEngine

_KIND_ORDER = {
    "invalid_source": 0,
    "duplicate_key": 1,
    "missing_in_shadow": 2,
    "extra_in_shadow": 3,
    "value_mismatch": 4,
    "unstable": 5,
}


def audit(
    source: Path | str,
    shadow: Path | str,
    *,
    config: Config | None = None,
    progress: Progress | None = None,
    today: date | None = None,
    workers: int | None = None,
    stream: bool = True,
    settle: float | None = None,
    recheck: bool = True,
    files: FilePolicy | None = None,
    engine: str | DaskEngine = "local",
    incremental: bool = False,
    state: Path | str | None = None,
    full_every: float = DEFAULT_FULL_EVERY,
) -> AuditResult:
    """Is the shadow telling the truth? Every document, every row, every field.

    Args:
        source: the folder of documents (the truth).
        shadow: the SQLite database (opened read-only).
        config: mapping, tolerances, ignore rules (default: the built-in profile).
        progress: called with 1 after each unit of the pass.
        today: the date ignore rules expire against (default: today, UTC).
        workers: 1 validates inline, 2 on a second core (default: by size).
        stream: compare each document's rows as they are read.
        settle: seconds a difference must hold, with the unit's documents unchanged, to
            be drift while writers that skip the lock may be mid-save (default: the
            config's ``[audit] settle``, else 0: the locked re-check only; the CLI's is 5).
        recheck: re-check units with findings on a consistent view (``engine.recheck``);
            False reports the pass over both stores as it is.
        files: how source files are opened (size cap, symlinks); default FilePolicy().
        engine: ``"local"`` (this process, the default), or ``"dask"`` / a ``DaskEngine``
            (key partitions on a dask.distributed cluster, ``engine.distributed``); the
            result is the same; finding paths are then absolute.
        incremental: re-read only what changed since the run that wrote ``state``
            (``engine.incremental``); a full audit, saying why, when that cannot be trusted.
        state: the incremental state file (needed with ``incremental``).
        full_every: with ``incremental``, audit in full when the last full audit is this
            many hours old (default 24; 0: always).

    Returns:
        The findings, per-table summary, coverage and what the re-check resolved.

    Raises:
        UsageError: ``settle`` is not a number of seconds >= 0; ``incremental`` without
            ``state`` or with the dask engine; ``full_every`` not a number of hours >= 0;
            an unknown engine.
        EngineError: the dask engine without dask installed, or its scheduler unreachable.
        SourceError: the source folder cannot be read.
        DatabaseError: the database is missing or not SQLite.
    """
    config = config or Config()
    dask = _dask_engine(engine)
    settle = check_settle(next(s for s in (settle, config.settle, LIBRARY_SETTLE) if s is not None))
    if incremental:
        full_every = check_full_every(full_every)
        if state is None:
            raise UsageError("incremental: no state file given (state=...)")
        if dask is not None:
            raise UsageError(
                "incremental: runs on the local engine; the dask engine audits in full"
            )
    started = utc_stamp()
    timings: dict[str, float] = {}
    t0 = time.perf_counter()
    # Millions of long-lived, acyclic objects: the cyclic collector would only walk them
    # again and again; reference counting frees them when _collect returns, before the
    # collector is back on.
    mode: Literal["full", "incremental"] = "full"
    how: IncrementalSummary | None = None

    def full_pass(tally: Tally | None = None) -> Collected:
        return _collect(
            source,
            shadow,
            config,
            progress=progress,
            workers=workers,
            timings=timings,
            stream=stream,
            settle=settle if recheck else None,
            files=files,
            tally=tally,
            dask=dask,
        )

    with gc_paused():
        if incremental and state is not None:
            outcome = run_incremental(
                source, shadow, config, state=state, full_every=full_every,
                full_pass=full_pass, settle=settle if recheck else None, files=files,
                timings=timings,
            )  # fmt: skip
            findings, summary, normalizers, coverage, documents, checked = outcome.collected
            findings.sort(key=_order)
            mode, how = outcome.mode, outcome.summary
        else:
            findings, summary, normalizers, coverage, documents, checked = full_pass()
    truth = truth_of(shadow)
    if truth == "sqlite":  # sqlite-primary on: SQLite is the truth, JSON the copy
        findings, summary = swap_roles(findings, summary)
    active, ignored = _apply_rules(findings, config.ignore, today or today_utc())
    timings["total"] = time.perf_counter() - t0
    return AuditResult(
        source=str(source),
        shadow=str(shadow),
        started_at=started,
        finished_at=utc_stamp(),
        summary=summary,
        findings=tuple(active),
        coverage=coverage,
        ignored=tuple(ignored),
        normalizers=dict(normalizers),
        timings=timings,
        documents=documents,
        recheck=checked,
        truth=truth,
        mode=mode,
        incremental=how,
    )


def _collect(
    source: Path | str,
    shadow: Path | str,
    config: Config,
    *,
    progress: Progress | None,
    workers: int | None,
    timings: dict[str, float],
    stream: bool = True,
    settle: float | None = None,
    files: FilePolicy | None = None,
    tally: Tally | None = None,
    dask: DaskEngine | None = None,
) -> Collected:
    """Load both stores and compare them; only the small results leave this function
    (and, with ``tally``, what an incremental audit's state keeps of each unit)."""
    mapping = config.mapping
    t = time.perf_counter()
    if dask is not None:  # the same pass, key partition by partition on a cluster
        from shadow_audit.engine.distributed import run_partitions

        source, shadow = os.path.abspath(source), os.path.abspath(shadow)  # as workers see them
        findings, summary, normalizers, expected, actual = run_partitions(
            source, shadow, config, engine=dask, files=files, progress=progress
        )
        timings["partitions"] = time.perf_counter() - t
    else:
        findings, summary, normalizers, expected, actual = _single_pass(
            source, shadow, config, progress=progress, workers=workers, timings=timings,
            stream=stream, files=files, tally=tally,
        )  # fmt: skip
    mapping = actual.mapping or mapping
    checked = None
    if settle is not None:  # settle None: no re-check
        t = time.perf_counter()
        outcome = recheck_findings(
            findings, summary, source=source, shadow=shadow, mapping=mapping,
            fields=actual.fields, units=expected.units, validate=config.validate, settle=settle,
            files=files,
        )  # fmt: skip
        findings, summary, checked = outcome.findings, outcome.summary, outcome.counts
        findings.sort(key=_order)
        timings["recheck"] = time.perf_counter() - t
    findings = _hint_legacy_keys(findings, config.mapping, mapping, shadow=shadow, source=source)
    lost, kept = split_unmapped(expected.unmapped, mapping, actual.fields)
    coverage = Coverage(
        unmapped_paths=lost,
        kept_as_extra=kept,
        missing_columns=tuple(actual.missing_columns),
        missing_tables=tuple(actual.missing_tables),
    )
    return findings, summary, normalizers, coverage, expected.documents, checked


def _single_pass(
    source: Path | str,
    shadow: Path | str,
    config: Config,
    *,
    progress: Progress | None,
    workers: int | None,
    timings: dict[str, float],
    stream: bool,
    files: FilePolicy | None,
    tally: Tally | None = None,
) -> tuple[list[Finding], dict[str, EntitySummary], Counter[str], SourceRows, ShadowRows]:
    """One pass over both stores in this process: findings, summary, normalizer counts,
    and both sides (streamed rows consumed); with ``tally``, what an incremental audit's
    state keeps of each unit."""
    mapping = config.mapping
    t = time.perf_counter()
    with SourceScan(
        source, mapping, validate=config.validate, workers=workers, files=files
    ) as scan:
        tables = len(mapping.entities)
        tick = begin_phase(progress, "reading shadow", total=tables, unit="table")
        actual = load_shadow(shadow, mapping, progress=tick)
        timings["load_shadow"] = time.perf_counter() - t
        t = time.perf_counter()
        mapping = actual.mapping or mapping  # as the database keys its tables
        if tally is not None:  # each unit's rows, before the stream consumes them
            tally.mapping, tally.shadow = mapping, actual
            tally.shadow_counts = {
                table: Counter(k[0] for k in rows) for table, rows in actual.rows.items()
            }
        expected = scan.load(
            actual.fields, progress=progress, against=actual if stream else None,
            mapping=mapping, per_unit=tally is not None,
        )  # fmt: skip
    timings["load_source"] = time.perf_counter() - t
    t = time.perf_counter()
    tick = begin_phase(progress, "comparing", total=len(mapping.entities), unit="table")
    by_unit: dict[Any, Counter[str]] | None = {} if tally is not None else None
    findings, summary, normalizers = _compare_all(
        mapping, expected, actual, progress=tick, unit_normalizers=by_unit
    )
    timings["compare"] = time.perf_counter() - t
    if tally is not None:
        tally.source_units, tally.source_excluded = expected.units, expected.excluded
        tally.unit_unmapped, tally.unit_normalizers = expected.unit_unmapped, by_unit or {}
        tally.pass_findings = list(findings)
    return findings, summary, normalizers, expected, actual


def _dask_engine(engine: str | DaskEngine) -> DaskEngine | None:
    """None for the local engine; the Dask engine's options otherwise."""
    if engine == "local":
        return None
    from shadow_audit.engine.distributed import DaskEngine

    if engine == "dask":
        return DaskEngine()
    if isinstance(engine, DaskEngine):
        return engine
    raise UsageError(f"engine: {engine!r} is not one of 'local', 'dask' or a DaskEngine")


def _hint_legacy_keys(
    findings: list[Finding],
    mapped: DocumentMap,
    held: DocumentMap,
    *,
    shadow: Path | str,
    source: Path | str,
) -> list[Finding]:
    """A key repeated in a table the database keys by a legacy key (the reference's v2:
    no position column) is the database's limit, not the JSON's fault: say what fixes it."""
    from shadow_audit.stores.sqlite_shadow import legacy_key_loss

    legacy = {
        e.table: mapped.entity(e.table)
        for e in held.entities
        if e.key_column != mapped.entity(e.table).key_column
    }
    return [
        dataclasses.replace(
            f,
            detail=f"{f.detail}; not the JSON's fault: "
            + legacy_key_loss(Path(shadow), legacy[f.entity]).replace("DIR", str(source)),
        )
        if f.kind == "duplicate_key" and f.entity in legacy
        else f
        for f in findings
    ]


def _compare_all(
    mapping: DocumentMap,
    expected: SourceRows,
    actual: ShadowRows,
    *,
    progress: Progress | None = None,
    unit_normalizers: dict[Any, Counter[str]] | None = None,
) -> tuple[list[Finding], dict[str, EntitySummary], Counter[str]]:
    """Every table compared; findings of the loaders first (``unit_normalizers``: also
    count each unit's normalized cells there)."""
    findings: list[Finding] = [*expected.problems, *actual.duplicates]
    summary: dict[str, EntitySummary] = {}
    normalizers: Counter[str] = Counter(dict.fromkeys(NORMALIZERS, 0))
    for entity in mapping.entities:
        if progress:
            progress(1)
        if entity.table not in actual.fields:
            continue
        classified = expected.classified.get(entity.table) or classify(
            expected.rows[entity.table],
            actual.rows[entity.table],
            excluded=expected.excluded.get(entity.table, set())
            | actual.excluded.get(entity.table, set()),
        )
        result = findings_for(entity, actual.fields[entity.table], classified)
        summary[entity.table] = result.summary
        findings += result.findings
        normalizers.update(result.normalizers)
        if unit_normalizers is not None:
            for unit, counts in result.unit_normalizers.items():
                unit_normalizers.setdefault(unit, Counter()).update(counts)
    findings.sort(key=_order)
    return findings, summary, normalizers


def _order(f: Finding) -> tuple[int, str, str, str]:
    """The report's order of findings: by kind, table, key, field."""
    return (_KIND_ORDER.get(f.kind, 9), f.entity, f.key, f.field or "")
