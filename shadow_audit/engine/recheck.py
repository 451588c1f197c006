"""The re-check: every unit with findings is looked at again, on a consistent view of it.

The pass over both stores reads the database first and the documents after, so a unit
saved in between looks drifted. Each unit with findings is therefore read again:

1. **Locked.** Under the writer's per-unit lock (``DualWriter`` holds it across the JSON
   write and the shadow transaction), the unit's documents and its rows (one read
   transaction on the read-only connection) make one snapshot. It is projected and
   compared by the same engine as the full pass (``read_unit``, ``classify``,
   ``findings_for``). A finding is reported only when it holds on that view.
2. **Settle.** Writers that do not take the lock (the reference system's own code writes
   the JSON, then SQLite a few milliseconds later) can still be mid-save. Units that still
   differ are re-read, all together, in a few rounds within ``settle`` seconds:

   - *transient*: the two sides agree at some re-read (counted, not reported);
   - *drift*: the same difference on reads at least ``settle`` apart, with the unit's
     documents unchanged in between (reported as the usual kinds);
   - *unstable*: neither, because the unit kept changing (reported as ``unstable``,
     naming the unit; never dropped, never counted as drift).

A lock is held for one unit's read (milliseconds), never around the audit; the audit
waits for ``settle`` at most once per run, whatever the number of units. Units whose
lock file does not exist (never saved by ``DualWriter``) or cannot be opened are read
without it: nothing is ever created in the source folder.
"""

from __future__ import annotations

import dataclasses
import hashlib
import logging
import math
import os
import sqlite3
import time
from collections import Counter
from collections.abc import Iterable, Iterator
from contextlib import closing, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson
from filelock import FileLock, Timeout

from shadow_audit.engine.findings import EntitySummary, Finding, RecheckSummary
from shadow_audit.engine.load import ShadowRows, read_unit_rows
from shadow_audit.engine.source import SourceRows, Verdicts, read_unit
from shadow_audit.engine.units import compare_units
from shadow_audit.errors import ShadowAuditError, UsageError
from shadow_audit.mapping import DocumentMap, Field
from shadow_audit.stores.files import FilePolicy, SafeReader
from shadow_audit.stores.json_store import JsonStore, lock_path
from shadow_audit.stores.sqlite_shadow import connect_readonly

log = logging.getLogger(__name__)

LIBRARY_SETTLE = 0.0  # library calls (tests, notebooks) re-check under the lock only
DEFAULT_SETTLE = 5.0  # scheduled runs (the CLI) also wait out writers that skip the lock
LOCK_TIMEOUT = 2.0  # a writer holds a unit's lock for milliseconds; past this, read unlocked
LOCK_POLL = 0.002
ROUNDS = (0.125, 0.25, 0.5, 1.0)  # re-reads, as fractions of ``settle`` after the locked read
RECHECKED_KINDS = frozenset(
    {"missing_in_shadow", "extra_in_shadow", "value_mismatch", "invalid_source", "duplicate_key"}
)


def check_settle(settle: float) -> float:
    """Return ``settle`` as seconds >= 0.

    Args:
        settle: the audit's settle time, in seconds.

    Returns:
        The value as a float.

    Raises:
        UsageError: not a finite number >= 0; the message names the value.
    """
    number = isinstance(settle, int | float) and not isinstance(settle, bool)
    if not number or not math.isfinite(settle) or settle < 0:
        raise UsageError(f"settle: {settle!r} is not a number of seconds >= 0")
    return float(settle)


@dataclass(frozen=True)
class View:
    """One read of a unit: its findings and what its documents held (path -> hash)."""

    findings: tuple[Finding, ...]
    documents: tuple[tuple[str, str | None], ...]
    at: float  # time.monotonic() when the read ended

    @property
    def difference(self) -> frozenset[bytes]:
        """The findings with their values: two reads show the same difference when equal."""
        return frozenset(
            orjson.dumps(
                [f.kind, f.entity, f.key, f.field, f.source_value, f.shadow_value],
                default=repr,
                option=orjson.OPT_SORT_KEYS | orjson.OPT_NON_STR_KEYS,
            )
            for f in self.findings
        )


@dataclass
class RecheckOutcome:
    """The findings after the re-check, the summary corrected to match, and the counts."""

    findings: list[Finding]
    summary: dict[str, EntitySummary]
    counts: RecheckSummary


@dataclass
class _Unit:
    """A unit under re-check: the pass's findings it decides and its reads so far."""

    key: str
    primary: str | None
    first: list[Finding] = field(default_factory=list)
    views: list[View] = field(default_factory=list)


class _HashingReader(SafeReader):
    """The pass's safe reader that also notes a hash of every document it read."""

    def __init__(self, root: Path | str, policy: FilePolicy | None) -> None:
        super().__init__(root, policy)
        self.hashes: dict[str, str | None] = {}

    def read(self, path: Path | str) -> bytes:
        try:
            data = super().read(path)
        except OSError:
            self.hashes[str(path)] = None
            raise
        self.hashes[str(path)] = hashlib.blake2b(data, digest_size=16).hexdigest()
        return data


class UnitReader:
    """Reads one unit at a time as one snapshot: documents and rows, under its lock."""

    def __init__(
        self,
        conn: sqlite3.Connection,
        *,
        source: Path | str,
        mapping: DocumentMap,
        fields: dict[str, tuple[Field, ...]],
        validate: bool,
        files: FilePolicy | None = None,
        lock_timeout: float = LOCK_TIMEOUT,
        verdicts: Verdicts | None = None,
        seen: Iterable[str] = (),
    ) -> None:
        self.conn = conn
        self.verdicts = verdicts
        self.files = _HashingReader(source, files)
        self.store = JsonStore(source, mapping)
        self.store.known(seen)
        self.mapping = mapping
        self.fields = fields
        self.validate = validate
        self.lock_timeout = lock_timeout

    def primary_of(self, key: str) -> str | None:
        """Return where the unit's primary document is, when the pass did not see it.

        The folder named after the key, else a folder the pass did not list whose
        primary document has the key (only those are read).

        Args:
            key: the unit's document key (its default folder name).

        Returns:
            The path, or ``None`` when there is no such file.
        """
        try:
            path = self.store.path_for(key, self.mapping.primary.name)
            if not path.is_file():  # saved in a folder named its own way (as the reference does)
                path = self.store.path_for(self.store.unit_of(key), self.mapping.primary.name)
        except ShadowAuditError:  # not a safe folder name: the writer never made it
            return None
        return str(path) if path.is_file() else None

    @contextmanager
    def locked(self, primary: str | None) -> Iterator[bool]:
        """Hold the writer's lock for this unit, when it has one.

        Args:
            primary: the unit's primary document, if known.

        Yields:
            True when the lock is held; False when the unit has no lock or it could not be
            taken (the read then relies on the settle time).
        """
        path = lock_path(Path(primary)) if primary is not None else None
        if path is None or not path.is_file():  # never saved by DualWriter: no lock to honour
            yield False
            return
        lock = FileLock(str(path), timeout=self.lock_timeout)
        log.debug("re-check: taking the lock of %s", primary)
        try:
            lock.acquire(poll_interval=LOCK_POLL)
        except (Timeout, OSError) as exc:  # e.g. a read-only source: settle still applies
            log.debug("re-check: reading %s without its lock: %s", primary, exc)
            yield False
            return
        try:
            yield True
        finally:
            lock.release()

    def read(self, units: list[_Unit], *, settle_from: float | None = None) -> None:
        """Read a snapshot of each unit, then compare them all together by the audit's engine.

        Each unit gets a new View.

        Args:
            units: the units to read again.
            settle_from: read a unit no sooner than this many seconds after its first read.
        """
        snaps: dict[str, tuple[SourceRows, ShadowRows]] = {}
        documents: dict[str, tuple[tuple[str, str | None], ...]] = {}
        moments: dict[str, float] = {}
        for unit in units:
            if settle_from is not None:
                _wait_until(unit.views[0].at + settle_from)
            snaps[unit.key], documents[unit.key] = self._snapshot(unit)
            moments[unit.key] = time.monotonic()
        found = self._compare(snaps)
        for unit in units:
            unit.views.append(View(tuple(found[unit.key]), documents[unit.key], moments[unit.key]))

    def snapshot(self, key: str, primary: str | None) -> tuple[SourceRows, ShadowRows]:
        """One unit's documents and rows as one snapshot (under its lock, in one read
        transaction); the source side is empty when ``primary`` no longer holds ``key``.

        Args:
            key: the unit's document key.
            primary: its primary document, if it has one.

        Returns:
            (expected rows, actual rows) of the unit.
        """
        (expected, actual), _ = self._snapshot(_Unit(key=key, primary=primary))
        return expected, actual

    def _snapshot(
        self, unit: _Unit
    ) -> tuple[tuple[SourceRows, ShadowRows], tuple[tuple[str, str | None], ...]]:
        """The unit's documents and rows as one snapshot, and what its documents held."""
        hashes = self.files.hashes = {}
        expected = SourceRows()
        with self.locked(unit.primary):
            self.conn.execute("BEGIN")
            try:
                if unit.primary is not None and os.path.lexists(unit.primary):
                    expected = read_unit(
                        unit.primary, self.mapping, self.fields, validate=self.validate,
                        reader=self.files, verdicts=self.verdicts,
                    )  # fmt: skip
                elif unit.primary is not None:
                    hashes[unit.primary] = None
                actual = read_unit_rows(self.conn, self.mapping, self.fields, unit.key)
            finally:
                if self.conn.in_transaction:
                    self.conn.execute("COMMIT")
        if unit.key not in expected.units:  # the folder now holds another key: none of ours
            expected = SourceRows()
        return (expected, actual), tuple(sorted(hashes.items()))

    def _compare(self, snaps: dict[str, tuple[SourceRows, ShadowRows]]) -> dict[str, list[Finding]]:
        """Findings per unit, all units compared together (``compare_units``)."""
        compared = compare_units(snaps, mapping=self.mapping, fields=self.fields)
        return {key: c.findings for key, c in compared.items()}


def recheck_findings(
    findings: list[Finding],
    summary: dict[str, EntitySummary],
    *,
    source: Path | str,
    shadow: Path | str,
    mapping: DocumentMap,
    fields: dict[str, tuple[Field, ...]],
    units: dict[Any, str],
    validate: bool = True,
    settle: float = 0.0,
    files: FilePolicy | None = None,
) -> RecheckOutcome:
    """Re-check every unit with findings; see the module docstring for the rules.

    Args:
        findings: the findings of the pass over both stores.
        summary: its per-table summary, corrected here to count what is reported.
        source: the folder of documents.
        shadow: the database (opened read-only).
        mapping: the document map the pass used.
        fields: the compared columns per table the database has (``ShadowRows.fields``).
        units: document key -> primary path of every unit the pass read.
        validate: check documents against their schemas, as the pass did.
        settle: seconds a difference must hold, with the documents unchanged, to be drift;
            0 reports what differs on the locked read.
        files: how the pass opened source files (size cap, symlinks): the same here.

    Returns:
        The findings to report, the corrected summary and the re-check's counts.

    Raises:
        UsageError: ``settle`` is not a number of seconds >= 0.
        DatabaseError: the database cannot be opened read-only.
    """
    settle = check_settle(settle)
    todo, kept = _units_to_check(findings, mapping, units)
    if not todo:
        return RecheckOutcome(findings, summary, RecheckSummary(settle_seconds=settle))
    with closing(connect_readonly(shadow)) as conn:
        conn.isolation_level = None  # explicit BEGIN/COMMIT: one read transaction per view
        reader = UnitReader(
            conn,
            source=source,
            mapping=mapping,
            fields=fields,
            validate=validate,
            files=files,
            seen=(os.path.basename(os.path.dirname(p)) for p in units.values()),
        )
        for unit in todo:
            if unit.primary is None:
                unit.primary = reader.primary_of(unit.key)
        reader.read(todo)
        pending = [u for u in todo if u.views[-1].findings]
        consistent = len(todo) - len(pending)
        log.debug("re-check: %d of %d units differ on the locked read", len(pending), len(todo))
        rounds, waited = _settle(pending, reader, settle) if settle > 0 else (0, 0.0)
    reported, counts = _verdicts(todo, mapping, settle)
    final = kept + reported
    return RecheckOutcome(
        findings=final,
        summary=_corrected(summary, findings, final, todo),
        counts=dataclasses.replace(
            counts, consistent=consistent, rounds=rounds, waited_seconds=waited
        ),
    )


def _units_to_check(
    findings: list[Finding], mapping: DocumentMap, units: dict[Any, str]
) -> tuple[list[_Unit], list[Finding]]:
    """The units the findings belong to, each with its findings; and the findings no
    re-check can decide (orphan rows, keys repeated across units), kept as they are."""
    root = mapping.root.table
    pinned = {f.key for f in findings if f.kind == "duplicate_key" and f.entity == root}
    whole = {f.key for f in findings if f.kind in RECHECKED_KINDS and f.entity == root}

    def known(key: str) -> bool:  # a unit the pass saw in either store (no pass over all)
        return key not in pinned and (key in units or key in whole)

    todo: dict[str, _Unit] = {}
    kept: list[Finding] = []
    for f in findings:
        owners = [u for u in _owners(f, root) if known(u)] if f.kind in RECHECKED_KINDS else []
        if not owners:
            kept.append(f)
            continue
        for key in owners:
            unit = todo.setdefault(key, _Unit(key=key, primary=units.get(key)))
            unit.first.append(f)
    return [todo[k] for k in sorted(todo)], kept


def _owners(finding: Finding, root: str) -> list[str]:
    """The document keys a finding can belong to: its whole key for a unit-level finding,
    else also every prefix ending at a '/' (document and child keys may hold '/'; a child
    table without a key column has one row per document, keyed by the document alone)."""
    key = finding.key
    if finding.entity == root or finding.kind == "invalid_source":
        return [key]
    return [key[:i] for i, ch in enumerate(key) if ch == "/"] + [key]


def _settle(pending: list[_Unit], reader: UnitReader, settle: float) -> tuple[int, float]:
    """Re-read the units still differing, all together, until each one agreed at a read or
    was read again ``settle`` seconds after its locked read. Returns (rounds, seconds from
    the first locked read of a unit still differing to the last re-read)."""
    rounds = 0
    if not pending:
        return rounds, 0.0
    start = min(u.views[0].at for u in pending)
    for i, fraction in enumerate(ROUNDS):
        last = i == len(ROUNDS) - 1
        _wait_until(start + settle * fraction)
        rounds += 1
        log.debug("re-check round %d: re-reading %d units", rounds, len(pending))
        # the last read of each unit is at least ``settle`` after its first
        reader.read(pending, settle_from=settle if last else None)
        pending = [unit for unit in pending if unit.views[-1].findings]
        if not pending:
            break
    return rounds, time.monotonic() - start


def _wait_until(moment: float) -> None:
    """Sleep until ``moment`` (time.monotonic()): the one wait of the run, in rounds."""
    delay = moment - time.monotonic()
    if delay > 0:
        time.sleep(delay)


def _verdicts(
    todo: list[_Unit], mapping: DocumentMap, settle: float
) -> tuple[list[Finding], RecheckSummary]:
    """Per unit: transient (nothing reported), drift (its held findings) or unstable."""
    reported: list[Finding] = []
    drift = unstable = 0
    shaky: set[int] = set()  # the pass's findings an unstable unit stands for
    for unit in todo:
        last = unit.views[-1]
        if not last.findings:
            continue
        if settle == 0 or _held(unit.views, settle):
            reported += last.findings
            drift += 1
        else:
            unstable += 1
            reported.append(_unstable(unit, mapping, settle))
            shaky.update(id(f) for f in unit.first)
    still = {f.identity for f in reported}
    first = {id(f): f for u in todo for f in u.first}  # a finding two units may own, once
    transient = Counter(
        f.kind for i, f in first.items() if i not in shaky and f.identity not in still
    )
    return reported, RecheckSummary(
        units=len(todo),
        transient=dict(transient),
        drift_units=drift,
        unstable_units=unstable,
        settle_seconds=settle,
    )


def _held(views: list[View], settle: float) -> bool:
    """The same difference on two reads ``settle`` apart, documents unchanged in between."""
    for i, first in enumerate(views):
        for j in range(len(views) - 1, i, -1):
            later = views[j]
            if later.at - first.at < settle:
                break
            between = views[i : j + 1]
            if later.difference == first.difference and all(
                v.documents == first.documents for v in between
            ):
                return True
    return False


def _unstable(unit: _Unit, mapping: DocumentMap, settle: float) -> Finding:
    changed = sum(
        1 for a, b in zip(unit.views, unit.views[1:], strict=False) if a.documents != b.documents
    )
    return Finding(
        kind="unstable",
        entity=mapping.root.table,
        key=unit.key,
        path=unit.primary,
        document=mapping.primary.name,
        detail={
            "reads": len(unit.views),
            "settle_seconds": settle,
            "documents_changed": changed,
            "last_difference": sorted({":".join(f.identity) for f in unit.views[-1].findings}),
        },
    )


def _corrected(
    summary: dict[str, EntitySummary],
    first: list[Finding],
    final: list[Finding],
    todo: list[_Unit],
) -> dict[str, EntitySummary]:
    """The summary counting what is reported: differences the re-check resolved become
    matched rows; an unstable unit's rows stay counted as the pass found them."""
    shaky = {f.key for f in final if f.kind == "unstable"}
    held = [f for f in final if f.kind != "unstable"]
    held += [f for u in todo if u.key in shaky for f in u.first]

    def tally(items: list[Finding], table: str) -> tuple[int, int, int]:
        ours = [f for f in items if f.entity == table]
        return (
            sum(f.kind == "missing_in_shadow" for f in ours),
            sum(f.kind == "extra_in_shadow" for f in ours),
            len({f.key for f in ours if f.kind == "value_mismatch"}),
        )

    out: dict[str, EntitySummary] = {}
    for table, s in summary.items():
        m0, e0, d0 = tally(first, table)
        m1, e1, d1 = tally(held, table)
        missing = max(0, s.missing_in_shadow - m0 + m1)
        mismatched = max(0, s.mismatched - d0 + d1)
        out[table] = dataclasses.replace(
            s,
            missing_in_shadow=missing,
            extra_in_shadow=max(0, s.extra_in_shadow - e0 + e1),
            mismatched=mismatched,
            matched=max(0, s.source_rows - missing - mismatched),
        )
    return out
