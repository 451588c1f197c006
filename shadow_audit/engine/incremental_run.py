"""One ``--incremental`` run: trust the state and re-audit what changed, or audit in full.

See ``engine.incremental`` for how change is found. This module decides which kind of
run it is (and why), runs it, and writes the new state.
"""

from __future__ import annotations

import hashlib
import logging
import os
import time
from collections import Counter
from contextlib import closing
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from shadow_audit.clock import utc_stamp
from shadow_audit.config import Config
from shadow_audit.engine.compare import NORMALIZERS
from shadow_audit.engine.coverage import split_unmapped
from shadow_audit.engine.findings import (
    Coverage,
    EntitySummary,
    Finding,
    IncrementalSummary,
    RecheckSummary,
)
from shadow_audit.engine.incremental import (
    ORPHAN,
    Collected,
    FullPass,
    Outcome,
    ShadowMark,
    StatWalk,
    Tally,
    check_full_every,
    fingerprint,
    orphans_present,
    owner_of,
    read_mark,
    signatures,
    unit_key,
    unit_part,
)
from shadow_audit.engine.incremental_state import (
    COUNTS,
    IncrementalState,
    StateUnusable,
    Totals,
    UnitPart,
)
from shadow_audit.engine.load import ShadowRows, load_shadow
from shadow_audit.engine.recheck import UnitReader, recheck_findings
from shadow_audit.engine.units import compare_units
from shadow_audit.mapping import DocumentMap, DocumentSpec
from shadow_audit.stores.files import FilePolicy, SafeReader
from shadow_audit.stores.sqlite_shadow import connect_readonly
from shadow_audit.validation import document_problems

log = logging.getLogger(__name__)


class _Fallback(Exception):
    """This run cannot be incremental; the message says why."""


class _VerdictCache:
    """Schema verdicts by content hash: a document is validated once per content. One whose
    stat signature is unchanged since a run that found it valid (``trusted``) is valid."""

    def __init__(self, state: IncrementalState, trusted: set[str]) -> None:
        self.state = state
        self.trusted = trusted
        self.new: dict[str, list[str]] = {}
        self.validated = 0

    def __call__(self, path: str, data: bytes, spec: DocumentSpec) -> list[str] | None:
        if path in self.trusted:
            return None
        digest = hashlib.blake2b(spec.name.encode() + b"\0" + data, digest_size=16).hexdigest()
        known = self.new.get(digest)
        if known is None:
            known = self.state.verdict(digest)
        if known is None:
            self.validated += 1
            known = self.new[digest] = document_problems(data, spec.schema) or []
        return known or None


def run_incremental(
    source: Path | str,
    shadow: Path | str,
    config: Config,
    *,
    state: Path | str,
    full_every: float,
    full_pass: FullPass,
    settle: float | None,
    files: FilePolicy | None = None,
    timings: dict[str, float] | None = None,
    now: datetime | None = None,
) -> Outcome:
    """Audit only what changed since the state's run, or in full (saying why).

    Args:
        source: the source folder.
        shadow: the database (read-only).
        config: mapping, validation.
        state: the state file (created when missing).
        full_every: audit in full when the last full audit is this many hours old.
        full_pass: runs the full audit, filling a ``Tally`` for the state.
        settle: the re-check's settle time (None: no re-check), as the full audit's.
        files: the file policy.
        timings: phase timings are added here.
        now: the moment to judge ``full_every`` against (default: now).

    Returns:
        The result's parts, the mode and how the run went.

    Raises:
        UsageError: ``full_every`` is not a number of hours >= 0.
        DatabaseError: the database is missing or not SQLite.
    """
    full_every = check_full_every(full_every)
    timings = timings if timings is not None else {}
    store = IncrementalState(state)
    t = time.perf_counter()
    reason: str | None = None
    try:
        meta = store.open()
        if not meta:
            reason = f"no state yet at {state}"
    except StateUnusable as exc:
        meta, reason = {}, str(exc)
    schema = load_shadow(shadow, config.mapping, schema_only=True)
    mark = read_mark(shadow, config.mapping, None if reason else _int(meta.get("last_seq")))
    if reason is None:
        reason = _distrust(meta, mark, fingerprint(config, schema, files, source), full_every, now)
    timings["incremental_check"] = time.perf_counter() - t
    try:
        if reason is None:
            try:
                return _changed_only(
                    source, shadow, config, store=store, meta=meta, mark=mark, schema=schema,
                    settle=settle, files=files, timings=timings,
                )  # fmt: skip
            except _Fallback as exc:
                reason = str(exc)
        log.info("audit --incremental: auditing in full: %s", reason)
        return _full(
            source, shadow, config, store=store, full_pass=full_pass, reason=reason,
            files=files, timings=timings,
        )  # fmt: skip
    finally:
        store.close()


def _int(text: str | None) -> int | None:
    try:
        return int(text) if text is not None else None
    except ValueError:
        return None


def _distrust(
    meta: dict[str, str], mark: ShadowMark, print_: str, full_every: float, now: datetime | None
) -> str | None:
    """Why the state or the change record cannot be trusted for this run (None: they can)."""
    if mark.problem:
        return mark.problem
    if meta.get("shadow_id") != mark.identity:
        return (
            f"the database was replaced: it is {mark.identity}, the state is of "
            f"{meta.get('shadow_id')}"
        )
    if meta.get("epoch") != (mark.epoch or ""):
        return "the change-record triggers were made again since the last run"
    if meta.get("fingerprint") != print_:
        return "the mapping, the config or the database's columns changed since the last run"
    last = _int(meta.get("last_seq"))
    if last is None or mark.seq < last:
        return "the change record went back (a database restored from a copy?)"
    if meta.get("untrusted"):
        return meta["untrusted"]
    try:
        full_at = datetime.fromisoformat(meta.get("last_full_at", "").replace("Z", "+00:00"))
    except ValueError:
        return "the state does not say when the last full audit ran"
    hours = ((now or datetime.now(UTC)) - full_at).total_seconds() / 3600
    if hours >= full_every:
        return f"the last full audit was {hours:.1f} hours ago (--full-every {full_every:g})"
    return None


def _reverse(files: dict[str, tuple[str, str]], keys: set[str]) -> dict[str, list[str]]:
    """The primaries that hold each of ``keys`` (no scan when there are none)."""
    out: dict[str, list[str]] = {}
    if keys:
        for primary, (key, _) in files.items():
            if key in keys:
                out.setdefault(key, []).append(primary)
    return out


def _changed_only(
    source: Path | str,
    shadow: Path | str,
    config: Config,
    *,
    store: IncrementalState,
    meta: dict[str, str],
    mark: ShadowMark,
    schema: ShadowRows,
    settle: float | None,
    files: FilePolicy | None,
    timings: dict[str, float],
) -> Outcome:
    """Re-audit the units that changed on either side; update the state by their deltas."""
    mapping = schema.mapping or config.mapping
    t = time.perf_counter()
    walk = StatWalk(source, mapping)  # begun first: the state is read meanwhile
    old = store.files()
    sigs = walk.result()
    reader = SafeReader(source, files)
    updates: dict[str, tuple[str, str] | None] = {p: None for p in old if p not in sigs}
    for primary, sig in sigs.items():
        if old.get(primary, ("", ""))[1] != sig or sig.endswith("?"):  # '?': not trusted
            updates[primary] = (unit_key(primary, mapping.primary, reader), sig)
    after = {**old, **{p: v for p, v in updates.items() if v is not None}}
    for p in [p for p, v in updates.items() if v is None]:
        del after[p]
    affected = {old[p][0] for p in updates if p in old}
    affected |= {v[0] for v in updates.values() if v is not None} | set(mark.changed)
    timings["stat_walk"] = time.perf_counter() - t
    before_keys, after_keys = _reverse(old, affected), _reverse(after, affected)
    for key in sorted(affected):
        if key == "":
            raise _Fallback("the change record holds a write it could not key (a NULL key)")
        if len(before_keys.get(key, ())) > 1 or len(after_keys.get(key, ())) > 1:
            raise _Fallback(f"the key {key!r} is held by more than one folder")
    t = time.perf_counter()
    findings_before = store.findings()
    cache = _VerdictCache(
        store, _unchanged_valid(affected, old, sigs, after_keys, findings_before, mapping)
    )
    fields = schema.fields
    reread = 0
    primary_of = {k: after_keys[k][0] for k in affected if after_keys.get(k)}
    with closing(connect_readonly(shadow)) as conn:
        conn.isolation_level = None
        stored = store.parts(affected)
        for key in [k for k in affected if k.startswith(ORPHAN)]:
            if key in stored or orphans_present(conn, mapping, key):
                raise _Fallback("child rows whose mission is missing changed (orphan rows)")
            affected.discard(key)
        units = UnitReader(
            conn, source=source, mapping=mapping, fields=fields, validate=config.validate,
            files=files, verdicts=cache,
        )  # fmt: skip
        snaps = {}
        for key in sorted(affected):
            held_by = primary_of.get(key)
            expected, actual = units.snapshot(key, held_by)
            reread += len(units.files.hashes)
            if held_by is not None and key not in expected.units:  # changed meanwhile
                updates[held_by] = (after[held_by][0], after[held_by][1] + "?")
            snaps[key] = (expected, actual)
    compared = compare_units(snaps, mapping=mapping, fields=fields)
    results = {key: (compared[key], snaps[key][0].unit_unmapped.get(key)) for key in snaps}
    timings["reaudit"] = time.perf_counter() - t
    t = time.perf_counter()
    first = [f for key in sorted(results) for f in results[key][0].findings]
    final, checked = first, None
    if settle == 0:
        # each unit was read as the re-check's locked read reads it (its documents and rows
        # in one snapshot, under its lock): reading it again would find the same
        drifted = sum(1 for key in results if results[key][0].findings)
        checked = RecheckSummary(units=drifted, drift_units=drifted, settle_seconds=0.0)
    elif settle is not None:
        checked = RecheckSummary(settle_seconds=settle)
        if first:
            outcome = recheck_findings(
                first, _sum_summaries(results, fields), source=source, shadow=shadow,
                mapping=mapping, fields=fields, units=primary_of, validate=config.validate,
                settle=settle, files=files,
            )  # fmt: skip
            final, checked = outcome.findings, outcome.counts
    timings["recheck"] = time.perf_counter() - t
    t = time.perf_counter()
    by_unit: dict[str, list[Finding]] = {}
    for f in final:
        owner = owner_of(f, mapping.root.table, affected)
        if owner is None:
            raise _Fallback(f"the finding {f.kind} {f.entity} {f.key!r} fits no single unit")
        by_unit.setdefault(owner, []).append(f)
    totals = Totals.load(meta["totals"])
    new_units: dict[str, tuple[UnitPart, list[Finding]] | None] = {}
    for key in affected:
        comparison, unmapped = results[key]
        mine = by_unit.get(key, [])
        held = comparison.findings if any(f.kind == "unstable" for f in mine) else mine
        rows = {t: (s.source_rows, s.shadow_rows) for t, s in comparison.summary.items()}
        part = unit_part(fields, rows, held, comparison.normalizers, unmapped)
        if key in stored:
            totals.add(stored[key], -1)
        totals.add(part)
        empty = not (part.tables or part.normalizers or part.unmapped or mine)
        new_units[key] = None if empty else (part, mine)
    kept = {u: fs for u, fs in findings_before.items() if u not in affected}
    findings = [f for fs in kept.values() for f in fs] + final
    meta_out = {"last_seq": str(mark.seq), "totals": totals.dump()}
    store.write(meta=meta_out, files=updates, units=new_units, verdicts=cache.new)
    timings["state"] = time.perf_counter() - t
    collected = _collected(findings, totals, schema, mapping, len(after), checked)
    summary = IncrementalSummary(
        documents_reread=reread,
        # document keys: a new mission id's <orphan N> note held no rows (else: in full)
        shadow_keys_changed=sum(1 for key in mark.changed if not key.startswith(ORPHAN)),
        units_audited=len(affected),
        last_full_at=meta.get("last_full_at"),
    )
    return Outcome(collected, "incremental", summary)


def _unchanged_valid(
    affected: set[str],
    old: dict[str, tuple[str, str]],
    sigs: dict[str, str],
    after_keys: dict[str, list[str]],
    findings: dict[str, list[Finding]],
    mapping: DocumentMap,
) -> set[str]:
    """Documents of the affected units that are as the last run read them (same stat
    signature, trusted) and were valid then (their unit had no invalid_source finding)."""
    places = [loc for spec in mapping.companions for loc in spec.locations]
    out: set[str] = set()
    for key in affected:
        if any(f.kind == "invalid_source" for f in findings.get(key, ())):
            continue
        for primary in after_keys.get(key, ()):
            before, now = old.get(primary, ("", "?"))[1], sigs.get(primary, "?")
            if before.endswith("?") or now.endswith("?"):
                continue
            folder = os.path.dirname(primary)
            paths = [primary, *(os.path.join(folder, place) for place in places)]
            for path, a, b in zip(paths, before.split("|"), now.split("|"), strict=False):
                if a == b and a != "-":
                    out.add(path)
    return out


def _sum_summaries(
    results: dict[str, tuple[Any, Any]], fields: dict[str, Any]
) -> dict[str, EntitySummary]:
    """The changed units' summary, as the full pass's is for every unit."""
    out: dict[str, EntitySummary] = {}
    for table in fields:
        counts = [0] * len(COUNTS)
        for comparison, _ in results.values():
            s = comparison.summary.get(table)
            if s is not None:
                for i, name in enumerate(COUNTS):
                    counts[i] += getattr(s, name)
        out[table] = EntitySummary(
            table, **dict(zip(COUNTS, counts, strict=True)), compared_columns=len(fields[table])
        )
    return out


def _collected(
    findings: list[Finding],
    totals: Totals,
    schema: ShadowRows,
    mapping: DocumentMap,
    documents: int,
    checked: RecheckSummary | None,
) -> Collected:
    """The result's parts from the totals, as ``run._collect`` gives them."""
    summary = {
        e.table: EntitySummary(
            e.table,
            **dict(zip(COUNTS, totals.tables.get(e.table, [0] * len(COUNTS)), strict=True)),
            compared_columns=len(schema.fields[e.table]),
        )
        for e in mapping.entities
        if e.table in schema.fields
    }
    normalizers: Counter[str] = Counter(dict.fromkeys(NORMALIZERS, 0))
    normalizers.update(totals.normalizers)
    lost, kept = split_unmapped(dict(totals.unmapped), mapping, schema.fields)
    coverage = Coverage(
        unmapped_paths=lost,
        kept_as_extra=kept,
        missing_columns=tuple(schema.missing_columns),
        missing_tables=tuple(schema.missing_tables),
    )
    return findings, summary, normalizers, coverage, documents, checked


def _full(
    source: Path | str,
    shadow: Path | str,
    config: Config,
    *,
    store: IncrementalState,
    full_pass: FullPass,
    reason: str,
    files: FilePolicy | None,
    timings: dict[str, float],
) -> Outcome:
    """The full audit, and a new state made from it (every unit's part and findings)."""
    t = time.perf_counter()
    sigs = signatures(source, config.mapping)
    mark = read_mark(shadow, config.mapping, None)  # before the pass: later writes are news
    timings["stat_walk"] = time.perf_counter() - t
    started = utc_stamp()
    tally = Tally()
    collected = full_pass(tally)
    t = time.perf_counter()
    findings, summary, _, _, documents, _ = collected
    assert tally.shadow is not None and tally.mapping is not None  # filled by the pass
    mapping, schema = tally.mapping, tally.shadow
    parts, untrusted = _parts_of_pass(tally, findings)
    totals = Totals()
    for part, _ in parts.values():
        totals.add(part)
    for table, s in summary.items():
        want = [getattr(s, name) for name in COUNTS]
        if totals.tables.get(table, [0] * len(COUNTS)) != want and not untrusted:
            untrusted = f"the per-unit counts of {table} do not add up to the full audit's"
    reader = SafeReader(source, files)
    owners = {p: k for k, p in tally.source_units.items()}
    state_files: dict[str, tuple[str, str] | None] = {
        p: (owners.get(p) or unit_key(p, mapping.primary, reader), sig) for p, sig in sigs.items()
    }
    meta = {
        "shadow_id": mark.identity,
        "epoch": mark.epoch or "",
        "fingerprint": fingerprint(config, schema, files, source),
        "last_seq": str(mark.seq),
        "last_full_at": started,
        "totals": totals.dump(),
        "untrusted": untrusted or "",
    }
    store.reset()
    units: dict[str, tuple[UnitPart, list[Finding]] | None] = dict(parts)
    store.write(meta=meta, files=state_files, units=units, verdicts={})
    timings["state"] = time.perf_counter() - t
    read = sum(1 + sum(s != "-" for s in sig.split("|")[1:]) for sig in sigs.values())
    summary_out = IncrementalSummary(
        documents_reread=read,
        shadow_keys_changed=0,
        units_audited=documents,
        fallback=reason,
        last_full_at=started,
    )
    return Outcome(collected, "full", summary_out)


def _parts_of_pass(
    tally: Tally, final: list[Finding]
) -> tuple[dict[str, tuple[UnitPart, list[Finding]]], str | None]:
    """Every unit's part and findings from the full pass; and why they cannot be trusted,
    if so (a finding no single unit owns; a document repeating a child key)."""
    assert tally.shadow is not None and tally.mapping is not None
    root = tally.mapping.root.table
    fields = tally.shadow.fields
    known: set[str] = {str(k) for k in tally.source_units}
    for counts in tally.shadow_counts.values():
        known.update(str(k) for k in counts)
    untrusted: str | None = None
    grouped: dict[str, dict[str, list[Finding]]] = {"pass": {}, "final": {}}
    for name, items in (("pass", tally.pass_findings), ("final", final)):
        for f in items:
            owner = owner_of(f, root, known)
            if owner is None:
                untrusted = f"the finding {f.kind} {f.entity} {f.key!r} fits no single unit"
                continue
            grouped[name].setdefault(owner, []).append(f)
    excluded: dict[str, set[Any]] = {}
    for table in fields:
        excluded[table] = tally.source_excluded.get(table, set()) | tally.shadow.excluded.get(
            table, set()
        )
        if any(isinstance(k, tuple) for k in tally.source_excluded.get(table, ())):
            untrusted = untrusted or f"a source document repeats a child key of {table}"
    parts: dict[str, tuple[UnitPart, list[Finding]]] = {}
    for unit in known | set(grouped["final"]) | set(grouped["pass"]):
        first = grouped["pass"].get(unit, [])
        mine = grouped["final"].get(unit, [])
        held = first if any(f.kind == "unstable" for f in mine) else mine
        rows: dict[str, tuple[int, int]] = {}
        for table in fields:
            shd = 0 if unit in excluded[table] else tally.shadow_counts[table].get(unit, 0)
            ours = [f for f in first if f.entity == table]
            missing = sum(f.kind == "missing_in_shadow" for f in ours)
            extra = sum(f.kind == "extra_in_shadow" for f in ours)
            rows[table] = (shd - extra + missing, shd)
        part = unit_part(
            fields, rows, held, tally.unit_normalizers.get(unit), tally.unit_unmapped.get(unit)
        )
        if part.tables or part.normalizers or part.unmapped or mine:
            parts[unit] = (part, mine)
    return parts, untrusted
