"""``audit --incremental``: re-read only what changed since the last run, same verdict.

What changed is found on each side without reading it:

- **source**: a stat walk of the unit folders (size, mtime_ns, ctime_ns, inode of the
  primary document and of each place a companion may be); a folder whose signature
  differs, appears or vanishes is read again. A signature taken within ``RACY_SECONDS``
  of a file's timestamp is not trusted (a write in the same clock tick would not show):
  that folder is read again next run too.
- **shadow**: the change record its triggers keep (``stores.changes``): every key written
  since the last sequence number seen.

The changed units are read again (documents and rows as one snapshot, under the writer's
lock) and compared by the audit's engine (``units.compare_units``), the re-check and its
settle time apply to their findings as in a full audit, and the state (``incremental_state``)
swaps their old findings and summary parts for the new ones. Whenever the record or the
state cannot be trusted, the run audits in full, says why, and writes a new state.
"""

from __future__ import annotations

import hashlib
import logging
import math
import os
import sqlite3
import stat
import time
from collections import Counter
from collections.abc import Callable, Iterable
from concurrent.futures import Future, ProcessPoolExecutor
from contextlib import closing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import orjson

from shadow_audit.config import Config
from shadow_audit.engine.findings import (
    Coverage,
    EntitySummary,
    Finding,
    IncrementalSummary,
    RecheckSummary,
)
from shadow_audit.engine.incremental_state import (
    UnitPart,
)
from shadow_audit.engine.load import ShadowRows
from shadow_audit.errors import UsageError
from shadow_audit.mapping import DocumentMap, DocumentSpec, get_path, split_path
from shadow_audit.stores.changes import CHANGES_TABLE, EPOCH_NAME, expected_triggers
from shadow_audit.stores.files import FilePolicy, FileRefused, SafeReader
from shadow_audit.stores.sqlite_shadow import IDENTITY_TABLE, connect_readonly, shadow_identity

log = logging.getLogger(__name__)

DEFAULT_FULL_EVERY = 24.0  # hours between forced full audits
RACY_SECONDS = 0.05  # timestamps this close to the walk may hide a write in the same tick
PARALLEL_STAT_MIN = 20_000  # units from which the stat walk runs on two processes
STATE_NAME = ".shadow-audit-state.db"
ORPHAN = "<orphan "

Collected = tuple[
    list[Finding], dict[str, EntitySummary], Counter[str], Coverage, int, RecheckSummary | None
]


@dataclass
class Tally:
    """What a full pass leaves for the state besides its result (filled by ``run._collect``)."""

    mapping: DocumentMap | None = None
    shadow: ShadowRows | None = None  # fields, missing columns and tables, excluded rows
    shadow_counts: dict[str, Counter[Any]] = field(default_factory=dict)  # table -> key -> rows
    source_units: dict[Any, str] = field(default_factory=dict)
    source_excluded: dict[str, set[Any]] = field(default_factory=dict)
    unit_unmapped: dict[Any, set[tuple[str, str]]] = field(default_factory=dict)
    unit_normalizers: dict[Any, Counter[str]] = field(default_factory=dict)
    pass_findings: list[Finding] = field(default_factory=list)  # before the re-check


FullPass = Callable[[Tally], Collected]


@dataclass
class Outcome:
    """An incremental run's result, in the shape ``run._collect`` gives, plus its mode."""

    collected: Collected
    mode: Literal["full", "incremental"]
    summary: IncrementalSummary


def check_full_every(hours: float) -> float:
    """Return ``--full-every`` as hours >= 0.

    Args:
        hours: the most hours between two full audits (0: every run is full).

    Returns:
        The value as a float.

    Raises:
        UsageError: not a finite number >= 0.
    """
    number = isinstance(hours, int | float) and not isinstance(hours, bool)
    if not number or not math.isfinite(hours) or hours < 0:
        raise UsageError(f"--full-every: {hours!r} is not a number of hours >= 0")
    return float(hours)


def signatures(source: Path | str, mapping: DocumentMap) -> dict[str, str]:
    """The stat signature of every unit: size, mtime_ns, ctime_ns and inode of its primary
    document and of each place a companion may be ('-' where there is none).

    Finds the primaries as the audit's glob does (``*`` skips hidden names), with one
    directory listing for the usual ``*/<file>`` layout. A signature ends in '?' (never
    trusted: the unit is read again next run) when a timestamp is within ``RACY_SECONDS``
    of now, or when a document is a symlink (its target may change behind it).

    Args:
        source: the source folder.
        mapping: the map (patterns and companion places).

    Returns:
        primary path -> signature.
    """
    return StatWalk(source, mapping).result()


class StatWalk:
    """``signatures``, begun: on a large store another process stats part of the units
    from the start, while this one does other work before ``result`` (the lstat calls
    are most of an unchanged store's incremental run)."""

    def __init__(self, source: Path | str, mapping: DocumentMap) -> None:
        self._root = root = str(Path(source))
        self._racy_after = time.time_ns() - int(RACY_SECONDS * 1e9)
        head, _, rest = mapping.primary.pattern.partition("/")
        # each unit's primary relative to the root (stat-ed from the root's descriptor:
        # a shorter walk for the kernel than the whole path, each time)
        if head == "*" and rest and not any(c in rest for c in "*?["):
            with os.scandir(root) as entries:
                names = [e.name for e in entries if not e.name.startswith(".") and e.is_dir()]
            tail = os.sep + rest
            units = [name + tail for name in names]
        else:
            import glob

            found = glob.glob(glob.escape(root) + os.sep + mapping.primary.pattern)
            units = [primary[len(root) + 1 :] for primary in found]
        self._places = [loc for spec in mapping.companions for loc in spec.locations]
        self._pool: ProcessPoolExecutor | None = None
        self._theirs: Future[dict[str, str]] | None = None
        if len(units) >= PARALLEL_STAT_MIN and (os.cpu_count() or 1) > 1:
            # the other process takes a little more: this one has the caller's work too
            cut = len(units) * 9 // 20
            self._pool = ProcessPoolExecutor(max_workers=1)
            self._theirs = self._pool.submit(
                _signatures_of, root, units[cut:], self._places, self._racy_after
            )
            units = units[:cut]
        self._units = units

    def result(self) -> dict[str, str]:
        """Return primary path -> signature of every unit (see ``signatures``).

        Returns:
            The signatures.
        """
        out = _signatures_of(self._root, self._units, self._places, self._racy_after)
        if self._theirs is not None and self._pool is not None:
            with self._pool:
                out.update(self._theirs.result())
        return out


def _signatures_of(
    root: str, units: list[str], places: list[str], racy_after: int
) -> dict[str, str]:
    """The signatures of the units whose primaries are at these paths under ``root``."""
    lstat, sep = os.lstat, os.sep
    out: dict[str, str] = {}
    try:
        top = os.open(root, os.O_RDONLY | os.O_DIRECTORY)
    except OSError:  # gone since it was listed: nothing to sign
        return out
    try:
        for primary in units:
            try:
                st = lstat(primary, dir_fd=top)
            except OSError:
                continue
            stats: list[os.stat_result | None] = [st]
            folder = primary[: primary.rfind(sep) + 1]  # "" or "name/"
            for place in places:
                try:
                    stats.append(lstat(folder + place, dir_fd=top))
                except OSError:
                    stats.append(None)
            parts = []
            newest = 0
            for one in stats:
                if one is None:
                    parts.append("-")
                    continue
                if stat.S_ISLNK(one.st_mode):  # its target may change behind it: not trusted
                    newest = racy_after
                parts.append(f"{one.st_size}:{one.st_mtime_ns}:{one.st_ctime_ns}:{one.st_ino}")
                newest = max(newest, one.st_mtime_ns, one.st_ctime_ns)
            out[root + sep + primary] = "|".join(parts) + ("?" if newest >= racy_after else "")
    finally:
        os.close(top)
    return out


def unit_key(primary: str, spec: DocumentSpec, reader: SafeReader) -> str:
    """The key the audit gives a unit: its primary's key when usable, else its folder's name.

    Args:
        primary: the primary document.
        spec: the primary's description (its key path).
        reader: reads by the audit's file policy.

    Returns:
        The key.
    """
    guess = os.path.basename(os.path.dirname(primary))
    try:
        doc = orjson.loads(reader.read(primary))
    except (OSError, FileRefused, orjson.JSONDecodeError):
        return guess
    found = get_path(doc, split_path(spec.key_path or "")) if spec.key_path else None
    return found if isinstance(found, str) and found else guess


def fingerprint(
    config: Config, shadow: ShadowRows, files: FilePolicy | None, source: Path | str
) -> str:
    """What makes results differ besides the data: mapping, validation, file policy, the
    database's columns, the source folder.

    Args:
        config: the audit's config.
        shadow: the database's tables and columns (``load_shadow(schema_only=True)``).
        files: the file policy.
        source: the source folder.

    Returns:
        A hash of them.
    """
    parts = [
        repr(config.mapping),
        repr(config.validate),
        repr(files or FilePolicy()),
        str(Path(source).resolve()),
        repr(sorted((t, [f.column for f in fs]) for t, fs in shadow.fields.items())),
        repr(shadow.missing_columns),
        repr(shadow.missing_tables),
        repr(shadow.mapping),
    ]
    return hashlib.blake2b("\x00".join(parts).encode(), digest_size=16).hexdigest()


@dataclass
class ShadowMark:
    """Where the shadow's change record stands, and what it lists since the last run."""

    identity: str
    epoch: str | None
    seq: int
    changed: list[str] = field(default_factory=list)
    problem: str | None = None  # why the record cannot be trusted


def read_mark(shadow: Path | str, mapping: DocumentMap, since: int | None) -> ShadowMark:
    """Read the change record (read-only, one transaction) and check its triggers.

    Args:
        shadow: the database.
        mapping: the map the triggers are made from.
        since: list the keys changed after this sequence number (None: list none).

    Returns:
        The mark; ``problem`` says why the record cannot be trusted.

    Raises:
        DatabaseError: the database is missing or not SQLite.
    """
    identity = shadow_identity(shadow)
    with closing(connect_readonly(shadow)) as conn:
        conn.isolation_level = None
        conn.execute("BEGIN")
        try:
            return _mark(conn, mapping, identity, since, shadow)
        finally:
            conn.execute("COMMIT")


def _mark(
    conn: sqlite3.Connection, mapping: DocumentMap, identity: str, since: int | None, path: Any
) -> ShadowMark:
    objects = {
        (kind, name): sql
        for kind, name, sql in conn.execute("SELECT type, name, sql FROM sqlite_master")
    }
    if ("table", CHANGES_TABLE) not in objects:
        return ShadowMark(
            identity, None, 0, problem=f"database {path} has no change record (a database "
            "shadow-audit did not create, e.g. the reference v2): run repair --migrate",
        )  # fmt: skip
    tables = {name for kind, name in objects if kind == "table"}
    for name, sql in expected_triggers(mapping, tables).items():
        have = objects.get(("trigger", name))
        if have != sql:
            what = "missing" if have is None else "altered"
            return ShadowMark(
                identity, None, 0, problem=f"change-record trigger {name} is {what} in "
                f"database {path}: run repair --migrate",
            )  # fmt: skip
    row = conn.execute(
        f"SELECT value FROM {IDENTITY_TABLE} WHERE name = ?", (EPOCH_NAME,)
    ).fetchone()
    seq = conn.execute(f"SELECT coalesce(max(seq), 0) FROM {CHANGES_TABLE}").fetchone()[0]
    changed: list[str] = []
    if since is not None and since <= seq:
        changed = [
            r[0] for r in conn.execute(f"SELECT unit FROM {CHANGES_TABLE} WHERE seq > ?", (since,))
        ]
    return ShadowMark(identity, row[0] if row else None, int(seq), changed)


def orphans_present(conn: sqlite3.Connection, mapping: DocumentMap, key: str) -> bool:
    """Whether any child row is keyed ``key`` (``<orphan N>``: its mission is missing).

    Args:
        conn: a read-only connection to the shadow.
        mapping: the map of the tables.
        key: ``<orphan N>``.

    Returns:
        True when such a row exists (or the tables cannot tell).
    """
    link = key[len(ORPHAN) : -1]
    for entity in mapping.entities:
        if entity.is_root:
            continue
        parent = mapping.entity(entity.parent or "")
        sql = (
            f'SELECT 1 FROM "{entity.table}" c LEFT JOIN "{parent.table}" p '
            f'ON c."{entity.link_column}" = p."{entity.parent_column}" '
            f'WHERE c."{entity.link_column}" = ? AND p."{entity.parent_column}" IS NULL LIMIT 1'
        )
        try:
            if conn.execute(sql, (link,)).fetchone():
                return True
        except sqlite3.OperationalError:
            return True  # cannot tell: treat as present
    return False


def owner_of(finding: Finding, root: str, known: set[str] | dict[str, Any]) -> str | None:
    """The unit a finding belongs to; None when no known unit, or more than one, fits.

    Args:
        finding: a finding of the audit.
        root: the root table's name.
        known: the units' keys.

    Returns:
        The unit's key.
    """
    key = finding.key
    if finding.kind in ("unstable", "invalid_source") or finding.entity == root:
        return key
    fits = [key[:i] for i, ch in enumerate(key) if ch == "/" and key[:i] in known]
    if key in known:
        fits.append(key)
    return fits[0] if len(fits) == 1 else None


def unit_part(
    tables: Iterable[str],
    rows: dict[str, tuple[int, int]],
    held: list[Finding],
    normalizers: Counter[str] | None,
    unmapped: set[tuple[str, str]] | None,
) -> UnitPart:
    """One unit's share of the summary, as the re-check's corrected summary counts it.

    Args:
        tables: the compared tables.
        rows: table -> (source rows, shadow rows) of the unit.
        held: the findings the summary counts (an unstable unit: those of its pass).
        normalizers: the unit's normalizer counts.
        unmapped: the unit's unmapped paths.

    Returns:
        The part: per table source, shadow, matched, mismatched, missing, extra rows.
    """
    out = UnitPart(normalizers=Counter(normalizers or {}), unmapped=set(unmapped or ()))
    for table in tables:
        src, shd = rows.get(table, (0, 0))
        mine = [f for f in held if f.entity == table]
        missing = sum(f.kind == "missing_in_shadow" for f in mine)
        extra = sum(f.kind == "extra_in_shadow" for f in mine)
        mismatched = len({f.key for f in mine if f.kind == "value_mismatch"})
        if src or shd or missing or extra or mismatched:
            out.tables[table] = [src, shd, src - missing - mismatched, mismatched, missing, extra]
    return out
