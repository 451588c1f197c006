"""open_store: the application's one object to load and save documents, whatever the phase.

The phase lives in the shadow database (``stores.phases``) and is read inside each save's
SQLite write transaction (``BEGIN IMMEDIATE``), which a transition also takes: no save
commits under a phase older than the last committed transition. The rule per phase, as
in ``DualWriter``: the truth's failure propagates, the copy's is recorded.

- ``shadow``: JSON is the truth and serves reads; the SQLite write is non-fatal (ledger).
- ``read-verify``: as ``shadow``; a sampled fraction of reads is also rebuilt from SQLite
  and compared with the audit's comparison; results and latencies go to ``<db>.reads.jsonl``.
  The returned value never depends on SQLite, and no SQLite failure reaches the caller.
- ``sqlite-primary``: SQLite is the truth and serves reads; it is written first, in one
  transaction, and its failure propagates; the JSON files follow as a non-fatal backup.
- ``json-retired``: SQLite only.

When the database cannot be opened, the phase is the last one this object saw, or the one
``<db>.phase`` records (written before a move to a SQLite phase commits): if SQLite is the
truth the call raises ``DatabaseError``; JSON is never served in its place.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import math
import os
import random
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from collections.abc import Mapping as MappingABC
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType
from typing import Any

from filelock import FileLock, Timeout

from shadow_audit.config import Config
from shadow_audit.dualwrite import DualWriter, Validation, document_hash
from shadow_audit.errors import ConfigError, DatabaseError, InvalidDocumentError, ShadowAuditError
from shadow_audit.ledger import LedgerEntry, append_json_line
from shadow_audit.mapping import TableRows, compile_rebuilder
from shadow_audit.readcheck import ReadCheck, RowVerifier, reads_log_path
from shadow_audit.stores.json_store import (
    JsonStore,
    acquire_unit_lock,
    atomic_write,
    check_safe_name,
    lock_path,
)
from shadow_audit.stores.phases import (
    PHASES,
    SQLITE_TRUTH,
    Phase,
    ensure_phase_table,
    read_phase,
)
from shadow_audit.stores.rows import UnitReader
from shadow_audit.stores.sqlite_shadow import DEFAULT_BUSY_TIMEOUT, SqliteShadow

log = logging.getLogger(__name__)
VERIFY_LOCK_TIMEOUT = 0.5  # a save holds a unit's lock for milliseconds; past this, skip
LOCK_POLL = 0.002


class DocumentNotFoundError(ShadowAuditError):
    """No document with this key in the store that serves reads in this phase."""


@dataclass(frozen=True)
class CutoverPolicy:
    """The ``[cutover]`` table of shadow-audit.toml.

    ``read_sample``: the fraction of reads verified in read-verify; ``min_verified_reads``:
    clean verified reads before sqlite-primary; ``min_days_primary``: days in sqlite-primary
    before json-retired; ``verify_lock_timeout``: seconds a verified read waits for the
    unit's lock (a save holds it) before serving the JSON unverified and logging it skipped.
    """

    read_sample: float = 0.1
    min_verified_reads: int = 1000
    min_days_primary: float = 7.0
    verify_lock_timeout: float = VERIFY_LOCK_TIMEOUT

    @classmethod
    def from_config(
        cls, raw: MappingABC[str, Any], *, path: Path | str | None = None
    ) -> CutoverPolicy:
        """Check and read ``[cutover]``.

        Args:
            raw: the table as parsed from TOML.
            path: the config file it came from, named in every error (``config FILE: ...``).

        Returns:
            The policy.

        Raises:
            ConfigError: an unknown key or a value out of range.
        """
        try:
            return cls._checked(raw)
        except ConfigError as exc:
            if path is None:
                raise
            raise ConfigError(f"config {path}: {exc}") from exc

    @classmethod
    def _checked(cls, raw: MappingABC[str, Any]) -> CutoverPolicy:
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(raw) - known)
        if unknown:
            raise ConfigError(f"cutover: unknown keys {unknown} (known: {sorted(known)})")
        for name, value in raw.items():
            if (
                not isinstance(value, int | float)
                or isinstance(value, bool)
                or math.isnan(value)
                or value < 0
            ):
                raise ConfigError(f"cutover.{name}: {value!r} is not a number >= 0")
        if raw.get("read_sample", 0) > 1:
            raise ConfigError(f"cutover.read_sample: {raw['read_sample']!r} is not in [0, 1]")
        if not isinstance(raw.get("min_verified_reads", 0), int):
            value = raw["min_verified_reads"]
            raise ConfigError(f"cutover.min_verified_reads: {value!r} is not a whole number")
        return cls(**raw)

    def to_dict(self) -> dict[str, Any]:
        """Return this CutoverPolicy as plain data (JSON-ready)."""
        return dataclasses.asdict(self)


@dataclass(frozen=True)
class Saved:
    """What one ``Store.save`` wrote, under which phase, and the recorded failure if any."""

    key: str
    phase: str
    json_written: bool
    sqlite_written: bool
    failure: LedgerEntry | None = None


def phase_marker_path(database: Path | str) -> Path:
    """The file that remembers a SQLite-truth phase if the database itself goes missing.

    Args:
        database: the SQLite file.

    Returns:
        The marker's path, beside the database.
    """
    db = Path(database)
    return db.with_name(db.name + ".phase")


def turnstile_path(database: Path | str) -> Path:
    """The lock a phase move holds so that new saves wait behind it.

    Args:
        database: the SQLite file.

    Returns:
        The lock file's path, beside the database.
    """
    db = Path(database)
    return db.with_name(db.name + ".turnstile")


def write_phase_marker(database: Path | str, phase: str) -> None:
    """Record the phase next to the database (atomic), for when the database is gone.

    Args:
        database: the SQLite file.
        phase: the phase to remember.
    """
    atomic_write(phase_marker_path(database), f"{phase}\n".encode())


def _marker_phase(database: Path) -> Phase | None:
    try:
        text = phase_marker_path(database).read_text(encoding="utf-8").strip()
    except OSError:
        return None
    return text if text in PHASES else None


def _stamp(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")


class Store:
    """Load and save whole documents by key; see the module docstring for the phases."""

    def __init__(
        self,
        source: Path | str,
        shadow: Path | str,
        *,
        config: Config | None = None,
        busy_timeout: float = DEFAULT_BUSY_TIMEOUT,
        lock_timeout: float = 30.0,
        verify_lock_timeout: float | None = None,
        clock: Callable[[], datetime] | None = None,
        seed: int | None = None,
        validation: Validation = "observe",
    ) -> None:
        self.config = config or Config()
        self.mapping = self.config.mapping
        self._reader = UnitReader(self.mapping)  # statements and rebuild plans made once
        self._rebuild = compile_rebuilder(self.mapping)
        self._verify_rows = RowVerifier(self.mapping)
        cutover = dict(self.config.cutover)
        if verify_lock_timeout is not None:  # the argument wins over the config's table
            cutover["verify_lock_timeout"] = verify_lock_timeout
        where = self.config.path if verify_lock_timeout is None else None  # whose value it is
        self.policy = CutoverPolicy.from_config(cutover, path=where)
        self.json = JsonStore(source, self.mapping)
        path = Path(shadow)
        marker = _marker_phase(path)
        if not path.exists() and marker in SQLITE_TRUTH:
            raise DatabaseError(f"database {path}: no such file, and it is the truth ({marker})")
        self.shadow = SqliteShadow(path, self.mapping, busy_timeout=busy_timeout, create=False)
        self.writer = DualWriter(
            self.json, self.shadow, lock_timeout=lock_timeout, validation=validation
        )
        self.ledger = self.writer.ledger
        self.reads_log = reads_log_path(path)
        self.lock_timeout = lock_timeout
        self.verify_lock_timeout = self.policy.verify_lock_timeout
        self._clock = clock or (lambda: datetime.now(UTC))
        self._rng = random.Random(seed)  # noqa: S311 - sampling, not secrets
        self._guard = threading.RLock()
        self._conn: sqlite3.Connection | None = None
        self._conn_stack = contextlib.ExitStack()
        self._inode: tuple[int, int] | None = None
        self._known: Phase | None = marker
        try:  # create what is missing; a broken shadow must not stop an app whose truth is JSON
            self.shadow.create()
            with self.shadow.transaction() as conn:
                ensure_phase_table(conn)
                self._known = read_phase(conn)
        except (sqlite3.Error, OSError, DatabaseError) as exc:
            self._known = self._fallback(exc)
            log.warning("shadow database %s unavailable at open: %s", path, exc)

    # --- connection and phase ----------------------------------------------

    def _connection(self) -> sqlite3.Connection:
        """The reused read-write connection; reopened when the file was replaced, and a
        DatabaseError when it is gone (an open descriptor would write to a deleted file)."""
        try:
            st = os.stat(self.shadow.path)
        except OSError as exc:
            raise DatabaseError(f"database {self.shadow.path}: {exc.strerror}") from exc
        if self._conn is None or (st.st_dev, st.st_ino) != self._inode:
            self._conn_stack.close()
            self._conn_stack = contextlib.ExitStack()
            try:
                self._conn = self._conn_stack.enter_context(self.shadow.connection())
            except sqlite3.Error as exc:
                self._conn = None
                raise DatabaseError(f"database {self.shadow.path}: cannot open: {exc}") from exc
            self._inode = (st.st_dev, st.st_ino)
        return self._conn

    def _fallback(self, exc: Exception) -> Phase:
        """The phase when the database cannot tell: raise if SQLite may be the truth."""
        marker = _marker_phase(self.shadow.path)
        candidates = [p for p in (self._known, marker) if p is not None]
        phase: Phase = max(candidates, key=PHASES.index) if candidates else "shadow"
        if phase in SQLITE_TRUTH:
            raise DatabaseError(
                f"database {self.shadow.path}: unavailable while it is the truth ({phase}): "
                + " ".join(str(exc).split())
            ) from exc
        return phase

    def _phase_now(self) -> tuple[Phase, sqlite3.Connection | None]:
        try:
            conn = self._connection()
            phase = read_phase(conn)
        except (sqlite3.Error, DatabaseError) as exc:
            return self._fallback(exc), None
        self._known = phase
        return phase, conn

    @property
    def phase(self) -> Phase:
        """The current phase, as the database records it."""
        with self._guard:
            return self._phase_now()[0]

    # --- load ---------------------------------------------------------------

    def load(self, key: str) -> dict[str, dict[str, Any]]:
        """The documents of one key from the store that serves reads in this phase.

        Args:
            key: the document key (``metadata.projectId``) in every phase; in the JSON
                phases it is found in whichever folder holds it.

        Returns:
            {"manifest": {...}, "memory": {...}}; the memory only when there is one.

        Raises:
            DocumentNotFoundError: no such document in the serving store.
            DatabaseError: SQLite is the truth and cannot be read.
        """
        check_safe_name(key, "key")
        with self._guard:
            phase, conn = self._phase_now()
            if phase in SQLITE_TRUTH:
                assert conn is not None
                return self._load_sqlite(conn, key)
            if phase == "read-verify" and self._rng.random() < self.policy.read_sample:
                return self._verified_load(conn, key)
            return self._load_json(key)

    def _load_json(self, key: str) -> dict[str, dict[str, Any]]:
        primary = self.mapping.primary
        unit = self.json.unit_of(key)  # the folder holding the key, however it is named
        path = self.json.path_for(unit, primary.name)
        if not path.is_file():
            raise DocumentNotFoundError(f"{primary.name} {key}: no such file {path}")
        documents = {primary.name: self.json.read(path)}
        for spec in self.mapping.companions:
            path = self.json.path_for(unit, spec.name)
            if path.is_file():
                documents[spec.name] = self.json.read(path)
        return documents

    def _rows(self, conn: sqlite3.Connection, key: str) -> dict[str, TableRows]:
        """The key's rows in one read snapshot, per table (column names, rows)."""
        conn.execute("BEGIN")
        try:
            return self._reader.read(conn, key)
        finally:
            conn.execute("COMMIT")

    def _load_sqlite(self, conn: sqlite3.Connection, key: str) -> dict[str, dict[str, Any]]:
        try:
            rows = self._rows(conn, key)
        except sqlite3.Error as exc:
            raise DatabaseError(f"database {self.shadow.path}: cannot read {key}: {exc}") from exc
        if not rows:
            raise DocumentNotFoundError(f"{self.mapping.primary.name} {key}: not in the database")
        return self._rebuild(key, rows)

    def _verified_load(
        self, conn: sqlite3.Connection | None, key: str
    ) -> dict[str, dict[str, Any]]:
        """A sampled read: under the unit's lock (the one every save holds across both
        writes), the JSON documents and the key's rows in one read transaction; the lock is
        released before comparing. A lock still busy after ``verify_lock_timeout`` serves
        the JSON unlocked and records the verification as skipped, never as a mismatch."""
        unit = self.json.unit_of(key)
        lock = FileLock(str(lock_path(self.json.path_for(unit, self.mapping.primary.name))))
        try:
            lock.acquire(timeout=self.verify_lock_timeout, poll_interval=LOCK_POLL)
        except (Timeout, OSError) as exc:  # busy, or no folder / a read-only source
            started = time.perf_counter()
            documents = self._load_json(key)  # the control: its failure propagates
            json_ms = (time.perf_counter() - started) * 1000
            if isinstance(exc, Timeout):
                why = f"the unit's lock stayed busy for {self.verify_lock_timeout:g}s"
            else:
                why = f"the unit's lock cannot be taken: {exc}"
            self._log_check(key, json_ms, None, skipped=" ".join(f"{why}; not verified".split()))
            return documents
        try:
            started = time.perf_counter()
            documents = self._load_json(key)
            json_ms = (time.perf_counter() - started) * 1000
            rows, sqlite_ms, error = self._candidate_rows(conn, key)
        finally:
            lock.release()
        self._verify(conn, key, documents, rows, json_ms=json_ms, sqlite_ms=sqlite_ms, error=error)
        return documents

    def _candidate_rows(
        self, conn: sqlite3.Connection | None, key: str
    ) -> tuple[dict[str, Any] | None, float | None, str | None]:
        """The key's rows, their latency, or the error: never raises."""
        try:
            if conn is None:
                raise DatabaseError(f"database {self.shadow.path}: unavailable")
            started = time.perf_counter()
            rows = self._rows(conn, key)
            self._rebuild(key, rows)  # the read sqlite-primary would serve
            return rows, (time.perf_counter() - started) * 1000, None
        except Exception as exc:  # the candidate's failures never reach the caller
            return None, None, f"{type(exc).__name__}: {' '.join(str(exc).split())}"

    def _verify(
        self,
        conn: sqlite3.Connection | None,
        key: str,
        documents: dict[str, dict[str, Any]],
        rows: dict[str, Any] | None,
        *,
        json_ms: float,
        sqlite_ms: float | None,
        error: str | None,
    ) -> None:
        """The comparison of one locked read: its failures are recorded, never raised."""
        findings: list[dict[str, Any]] = []
        try:
            if error is not None or rows is None or conn is None:
                raise DatabaseError(error or f"database {self.shadow.path}: unavailable")
            live: sqlite3.Connection = conn
            found = self._verify_rows(
                key,
                documents,
                rows,
                columns=lambda table: self.shadow.columns(live, table),
            )
            findings = [f.to_dict() for f in found[:20]]
        except Exception as exc:  # the candidate's failures never reach the caller
            error = error or f"{type(exc).__name__}: {' '.join(str(exc).split())}"
            log.warning("verified read of %s failed: %s", key, error)
        self._log_check(key, json_ms, sqlite_ms, findings=findings, error=error)

    def _log_check(
        self,
        key: str,
        json_ms: float,
        sqlite_ms: float | None,
        *,
        findings: list[dict[str, Any]] | None = None,
        error: str | None = None,
        skipped: str | None = None,
    ) -> None:
        check = ReadCheck(
            time=_stamp(self._clock()),
            key=key,
            matched=not findings and error is None and skipped is None,
            json_ms=round(json_ms, 4),
            sqlite_ms=None if sqlite_ms is None else round(sqlite_ms, 4),
            findings=tuple(findings or ()),
            error=error,
            skipped=skipped,
        )
        try:
            append_json_line(self.reads_log, check.to_dict())
        except Exception:  # even a failing log must not break the application's read
            log.exception("reads log %s could not record %s", self.reads_log, key)

    # --- save ---------------------------------------------------------------

    def save(self, documents: MappingABC[str, MappingABC[str, Any]]) -> Saved:
        """Validate and save one key's documents ({name: document}) as the phase says.

        Order: the turnstile (passed, not held), the unit's lock (the one ``DualWriter``
        holds, so both writers and the audit's re-check see a save whole), then the
        database's write lock (``BEGIN IMMEDIATE``) from reading the phase to the commit,
        around both stores' writes: a transition (which takes the same database lock and
        no unit lock) never falls inside a save.

        Args:
            documents: e.g. {"manifest": m, "memory": mem}; the workspace is the folder
                already holding the key, else one named after it.

        Returns:
            What was written, under which phase.

        Raises:
            InvalidDocumentError: ``enforce`` and a document is invalid, or it has no key
                (nothing is written).
            DatabaseError: SQLite is the truth and the write failed (it did not commit).
            ShadowAuditError, OSError: JSON is the truth and its write failed.
        """
        key, unit, issues = self.writer._checked(documents, None)
        if not key:
            raise InvalidDocumentError(", ".join(documents), ["no document key to store it by"])
        saved = self._save(key, unit, documents)
        if issues and saved.failure is None:  # observe mode: written, and the reasons recorded
            where = f"{', '.join(documents)} {key}"
            failure = self._record(
                key, documents, InvalidDocumentError(where, ["; ".join(issues)]), "schema check"
            )
            saved = dataclasses.replace(saved, failure=failure)
        return saved

    def _save(self, key: str, unit: str, documents: MappingABC[str, MappingABC[str, Any]]) -> Saved:
        # Order, as DualWriter and every phase move: the turnstile is passed (not held),
        # then the unit's file lock, then SQLite's write lock; a move takes the turnstile
        # and SQLite's lock but no unit lock, so no cycle can form.
        with self._guard:
            try:
                self._pass_turnstile()
            except DatabaseError as exc:
                with self._unit_lock(unit):
                    return self._save_without_database(key, unit, documents, exc)
            with self._unit_lock(unit):
                conn = None
                try:
                    conn = self._connection()
                    conn.execute("BEGIN IMMEDIATE")
                    phase = read_phase(conn)
                except (sqlite3.Error, DatabaseError) as exc:
                    if conn is not None and conn.in_transaction:
                        conn.execute("ROLLBACK")
                    return self._save_without_database(key, unit, documents, exc)
                self._known = phase
                try:
                    if phase in SQLITE_TRUTH:
                        return self._save_sqlite_first(conn, phase, key, unit, documents)
                    return self._save_json_first(conn, phase, key, unit, documents)
                finally:
                    if conn.in_transaction:
                        conn.execute("ROLLBACK")

    @contextlib.contextmanager
    def _unit_lock(self, unit: str) -> Iterator[None]:
        """DualWriter's per-unit lock (``JsonStore.lock``), held around both writes of a save.

        A lock that cannot be made (the unit's folder is a file, the source is read-only)
        does not stop the save: the JSON write then fails the same way, which propagates
        when JSON is the truth and is recorded when it is the backup. A lock still held by
        another writer after ``lock_timeout`` raises ``filelock.Timeout``, as in DualWriter.
        """
        primary = self.json.path_for(unit, self.mapping.primary.name)
        lock = None
        try:
            lock = acquire_unit_lock(primary, timeout=self.lock_timeout)
        except Timeout:
            raise
        except OSError as exc:
            log.warning("saving %s without the unit's lock: %s", unit, exc)
        try:
            yield
        finally:
            if lock is not None:
                lock.release()

    def _save_without_database(
        self,
        key: str,
        unit: str,
        documents: MappingABC[str, MappingABC[str, Any]],
        exc: Exception,
    ) -> Saved:
        """The database cannot be written (the caller holds the unit's lock): JSON only, when
        JSON is the truth."""
        phase = self._fallback(exc)  # raises when SQLite may be the truth
        self._write_json(unit, documents)
        return Saved(key, phase, True, False, self._record(key, documents, exc, "SQLite write"))

    def _pass_turnstile(self) -> None:
        """Wait while a phase move holds the turnstile: SQLite's lock is not fair, and a
        stream of saves would otherwise starve the move."""
        try:
            with FileLock(str(turnstile_path(self.shadow.path)), timeout=self.shadow.busy_timeout):
                pass
        except Timeout as exc:
            raise DatabaseError(f"database {self.shadow.path}: a phase move holds it") from exc

    def _save_json_first(
        self,
        conn: sqlite3.Connection,
        phase: Phase,
        key: str,
        unit: str,
        documents: MappingABC[str, MappingABC[str, Any]],
    ) -> Saved:
        """JSON is the control (its failure propagates), SQLite the candidate (recorded)."""
        self._write_json(unit, documents)
        try:
            self.shadow.write(conn, key, documents)
            conn.execute("COMMIT")
        except Exception as exc:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            return Saved(key, phase, True, False, self._record(key, documents, exc, "SQLite write"))
        return Saved(key, phase, True, True)

    def _save_sqlite_first(
        self,
        conn: sqlite3.Connection,
        phase: Phase,
        key: str,
        unit: str,
        documents: MappingABC[str, MappingABC[str, Any]],
    ) -> Saved:
        """SQLite is the control (its failure propagates), the JSON backup the candidate.

        The backup is written before the commit, under the same lock, so backups land in
        commit order; its failure is recorded once the commit succeeded. A failed commit
        can leave a backup ahead of the truth: the reverse audit reports it and a rollback
        or a repair rewrites it from SQLite.
        """
        try:
            self.shadow.write(conn, key, documents)
        except sqlite3.Error as exc:
            raise DatabaseError(f"database {self.shadow.path}: saving {key} failed: {exc}") from exc
        backup_error: Exception | None = None
        if phase == "sqlite-primary":
            try:
                self._write_json(unit, documents)
            except Exception as exc:  # the backup's failures are recorded, never raised
                backup_error = exc
        try:
            conn.execute("COMMIT")
        except sqlite3.Error as exc:
            raise DatabaseError(f"database {self.shadow.path}: saving {key} failed: {exc}") from exc
        if backup_error is not None:
            failure = self._record(key, documents, backup_error, "JSON backup")
            return Saved(key, phase, False, True, failure)
        return Saved(key, phase, phase == "sqlite-primary", True)

    def _record(
        self, key: str, documents: MappingABC[str, Any], exc: Exception, what: str
    ) -> LedgerEntry | None:
        """The copy's failure: logged and in the ledger, never raised (nor a ledger failure)."""
        log.warning("%s for %s failed: %s: %s", what, key, type(exc).__name__, exc)
        try:
            return self.ledger.record(key=key, document_hash=document_hash(documents), error=exc)
        except Exception:
            log.exception("failure ledger %s could not record %s", self.ledger.path, key)
            return None

    def _write_json(self, unit: str, documents: MappingABC[str, MappingABC[str, Any]]) -> None:
        for name, doc in documents.items():
            self.json.write(self.json.path_for(unit, name), doc)

    # --- lifetime -----------------------------------------------------------

    def close(self) -> None:
        """Close the database connection (the store reopens it when used again)."""
        with self._guard:
            self._conn_stack.close()
            self._conn = None

    def __enter__(self) -> Store:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


def open_store(
    source: Path | str,
    shadow: Path | str,
    *,
    config: Config | None = None,
    busy_timeout: float = DEFAULT_BUSY_TIMEOUT,
    verify_lock_timeout: float | None = None,
    clock: Callable[[], datetime] | None = None,
    seed: int | None = None,
    validation: Validation = "observe",
) -> Store:
    """The application's read/write object over a JSON folder and its SQLite database.

    Args:
        source: the folder of workspaces (the JSON store).
        shadow: the SQLite file; created with its tables when missing, unless a
            SQLite-truth phase was recorded for it (then that is a DatabaseError).
        config: mapping and ``[cutover]`` policy (default: the built-in profile).
        busy_timeout: seconds to wait for a locked database.
        verify_lock_timeout: seconds a verified read waits for the unit's lock before it
            serves the JSON unverified (default: ``[cutover] verify_lock_timeout``, 0.5).
        clock: the time verified reads are stamped with (a simulated clock in the demo).
        seed: seed of the read sampling (reproducible runs).
        validation: ``observe`` (as DualWriter: an invalid document is saved and its
            reasons go to the ledger) or ``enforce`` (it is written nowhere).

    Returns:
        The store; use ``.phase``, ``.load(key)``, ``.save(docs)``.

    Raises:
        DatabaseError: the database is missing while it is the truth, or is not SQLite.
        ConfigError: the ``[cutover]`` table or ``verify_lock_timeout`` is malformed.
    """
    return Store(
        source,
        shadow,
        config=config,
        busy_timeout=busy_timeout,
        verify_lock_timeout=verify_lock_timeout,
        clock=clock,
        seed=seed,
        validation=validation,
    )
