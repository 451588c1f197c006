"""Run history: every audit appended to a SQLite file; deltas and trends come from here."""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Iterator
from contextlib import closing, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from shadow_audit.engine.findings import AuditResult
from shadow_audit.errors import DatabaseError

DEFAULT_HISTORY = Path("reports") / "history.db"
SCHEMA = """
CREATE TABLE IF NOT EXISTS runs (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    started_at TEXT NOT NULL,
    finished_at TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('GREEN', 'RED')),
    source TEXT NOT NULL,
    shadow TEXT NOT NULL,
    documents INTEGER NOT NULL,
    findings INTEGER NOT NULL,
    ignored INTEGER NOT NULL,
    coverage_complete INTEGER NOT NULL,
    lost_paths TEXT NOT NULL,
    parity REAL NOT NULL,
    report_dir TEXT,
    source_path TEXT NOT NULL DEFAULT '',
    shadow_path TEXT NOT NULL DEFAULT '',
    shadow_id TEXT NOT NULL DEFAULT '',
    mode TEXT NOT NULL DEFAULT 'full'
);
CREATE TABLE IF NOT EXISTS run_counts (
    run_id INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
    entity TEXT NOT NULL,
    kind TEXT NOT NULL,
    n INTEGER NOT NULL,
    PRIMARY KEY (run_id, entity, kind)
);
CREATE TABLE IF NOT EXISTS run_findings (
    run_id INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
    kind TEXT NOT NULL,
    entity TEXT NOT NULL,
    key TEXT NOT NULL,
    field TEXT NOT NULL,
    first_seen TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS idx_run_findings_run ON run_findings(run_id);
"""
# Columns added after the first release: an older history file gets them on open, empty,
# so its runs match no shadow (they never said which database they audited).
ADDED_COLUMNS = {
    "source_path": "TEXT NOT NULL DEFAULT ''",
    "shadow_path": "TEXT NOT NULL DEFAULT ''",
    "shadow_id": "TEXT NOT NULL DEFAULT ''",
    "mode": "TEXT NOT NULL DEFAULT 'full'",  # runs before --incremental were all full
}
RUN_COLUMNS = (
    "id, started_at, finished_at, status, documents, findings, ignored, coverage_complete, "
    "lost_paths, parity, report_dir, source_path, shadow_path, shadow_id, mode"
)

Identity = tuple[str, str, str, str]


@dataclass(frozen=True)
class Run:
    """One audit as the history keeps it."""

    id: int
    started_at: str
    finished_at: str
    status: str
    documents: int
    findings: int
    ignored: int
    coverage_complete: bool
    lost_paths: str
    parity: float
    report_dir: str | None = None
    counts: dict[str, int] = field(default_factory=dict)
    source_path: str = ""
    shadow_path: str = ""
    shadow_id: str = ""
    mode: str = "full"  # "incremental": only what changed since the run before was read

    def to_dict(self) -> dict[str, Any]:
        """Return this Run as plain data (JSON-ready)."""
        return {
            "id": self.id,
            "started_at": self.started_at,
            "finished_at": self.finished_at,
            "status": self.status,
            "documents": self.documents,
            "findings": self.findings,
            "ignored": self.ignored,
            "coverage_complete": self.coverage_complete,
            "parity": self.parity,
            "counts": dict(self.counts),
            "report_dir": self.report_dir,
            "source_path": self.source_path,
            "shadow_path": self.shadow_path,
            "shadow_id": self.shadow_id,
            "mode": self.mode,
        }


@dataclass(frozen=True)
class Delta:
    """Findings of this run against the previous one, each with the time it was first seen."""

    previous_run: int | None
    new: tuple[tuple[Identity, str], ...] = ()
    persisting: tuple[tuple[Identity, str], ...] = ()
    resolved: tuple[tuple[Identity, str], ...] = ()

    def to_dict(self) -> dict[str, Any]:
        """Return this Delta as plain data (JSON-ready)."""

        def rows(items: tuple[tuple[Identity, str], ...]) -> list[dict[str, str]]:
            return [
                {"kind": k, "entity": e, "key": key, "field": f, "first_seen": seen}
                for (k, e, key, f), seen in items
            ]

        return {
            "previous_run": self.previous_run,
            "new": rows(self.new),
            "persisting": rows(self.persisting),
            "resolved": rows(self.resolved),
        }


def parity(result: AuditResult) -> float:
    """Return matched rows over all rows either store holds (1.0 when both are empty).

    Args:
        result: an audit's result.

    Returns:
        A share between 0 and 1.
    """
    matched = sum(s.matched for s in result.summary.values())
    total = sum(
        s.matched + s.mismatched + s.missing_in_shadow + s.extra_in_shadow
        for s in result.summary.values()
    )
    return 1.0 if total == 0 else matched / total


def parity_text(share: float) -> str:
    """Return a parity share as people read it: a percentage with two decimals.

    A share below 1 never shows as ``100.00 %``: the last mismatching row must stay
    visible.

    Args:
        share: matched rows over all rows, between 0 and 1 (as ``parity`` gives).

    Returns:
        For example ``"99.99 %"`` for 0.999871, ``"100.00 %"`` for 1.0.
    """
    shown = round(share * 100, 2)
    if share < 1:
        shown = min(shown, 99.99)
    return f"{shown:.2f} %"


def _run(row: tuple[Any, ...]) -> Run:
    return Run(
        id=row[0],
        started_at=row[1],
        finished_at=row[2],
        status=row[3],
        documents=row[4],
        findings=row[5],
        ignored=row[6],
        coverage_complete=bool(row[7]),
        lost_paths=row[8],
        parity=row[9],
        report_dir=row[10],
        source_path=row[11],
        shadow_path=row[12],
        shadow_id=row[13],
        mode=row[14],
    )


def resolved(path: Path | str) -> str:
    """Return the absolute, symlink-free form of a path: what runs are matched by.

    Args:
        path: a file or folder path.

    Returns:
        The path as text.
    """
    return str(Path(path).resolve())


def _identity_of(shadow: str) -> str:
    from shadow_audit.stores.sqlite_shadow import shadow_identity

    try:
        return shadow_identity(shadow)
    except (DatabaseError, OSError):
        return ""


class History:
    """The history database (default ``reports/history.db``)."""

    def __init__(self, path: Path | str = DEFAULT_HISTORY, *, mode: int | None = None) -> None:
        self.path = Path(path)
        self.mode = mode

    @contextmanager
    def _connect(self, *, create: bool) -> Iterator[sqlite3.Connection]:
        if not create and not self.path.exists():
            raise DatabaseError(f"history {self.path}: no such file (run an audit first)")
        try:
            if create:
                self.path.parent.mkdir(parents=True, exist_ok=True)
            new = not self.path.exists()
            with closing(sqlite3.connect(self.path, timeout=30)) as conn:
                if new and self.mode is not None:
                    os.chmod(self.path, self.mode)
                conn.execute("PRAGMA foreign_keys = ON")
                conn.executescript(SCHEMA)
                _add_columns(conn)
                yield conn
        except sqlite3.DatabaseError as exc:
            raise DatabaseError(f"history {self.path}: {exc}") from exc
        except OSError as exc:
            raise DatabaseError(f"history {self.path}: {exc.strerror or exc}") from exc

    def record(
        self, result: AuditResult, *, report_dir: str | None = None, shadow_id: str | None = None
    ) -> tuple[int, Delta]:
        """Append one run; returns its id and its delta against the run before it.

        Args:
            result: the audit.
            report_dir: where its reports went.
            shadow_id: the audited database's identity; by default read from the file
                (``shadow_identity``), empty when it cannot be read.

        Returns:
            The run's id and its delta.
        """
        if shadow_id is None:
            shadow_id = _identity_of(result.shadow)
        with self._connect(create=True) as conn:
            prev = conn.execute("SELECT max(id) FROM runs").fetchone()[0]
            seen: dict[Identity, str] = {}
            if prev is not None:
                seen = {
                    (r[0], r[1], r[2], r[3]): r[4]
                    for r in conn.execute(
                        "SELECT kind, entity, key, field, first_seen FROM run_findings "
                        "WHERE run_id = ?",
                        (prev,),
                    )
                }
            now = result.finished_at
            current = {f.identity: seen.get(f.identity, now) for f in result.findings}
            cur = conn.execute(
                "INSERT INTO runs (started_at, finished_at, status, source, shadow, documents, "
                "findings, ignored, coverage_complete, lost_paths, parity, report_dir, "
                "source_path, shadow_path, shadow_id, mode) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    result.started_at,
                    result.finished_at,
                    result.status,
                    result.source,
                    result.shadow,
                    result.documents,
                    len(result.findings),
                    len(result.ignored),
                    int(result.coverage.complete),
                    ",".join(result.coverage.lost_paths),
                    parity(result),
                    report_dir,
                    resolved(result.source),
                    resolved(result.shadow),
                    shadow_id,
                    result.mode,
                ),
            )
            run_id = int(cur.lastrowid or 0)
            counts: dict[tuple[str, str], int] = {}
            for f in result.findings:
                counts[(f.entity, f.kind)] = counts.get((f.entity, f.kind), 0) + 1
            conn.executemany(
                "INSERT INTO run_counts VALUES (?, ?, ?, ?)",
                [(run_id, e, k, n) for (e, k), n in counts.items()],
            )
            conn.executemany(
                "INSERT INTO run_findings VALUES (?, ?, ?, ?, ?, ?)",
                [(run_id, *ident, first) for ident, first in current.items()],
            )
            conn.commit()
        delta = Delta(
            previous_run=prev,
            new=tuple((i, s) for i, s in current.items() if i not in seen),
            persisting=tuple((i, s) for i, s in current.items() if i in seen),
            resolved=tuple((i, s) for i, s in seen.items() if i not in current),
        )
        return run_id, delta

    def runs(self, *, limit: int | None = None) -> list[Run]:
        """Return the recorded runs, newest first.

        Args:
            limit: at most this many (default: all).

        Returns:
            The runs, each with its finding counts by kind.
        """
        with self._connect(create=False) as conn:
            sql = f"SELECT {RUN_COLUMNS} FROM runs ORDER BY id DESC"
            rows = conn.execute(sql + (" LIMIT ?" if limit else ""), (limit,) if limit else ())
            runs = [_run(r) for r in rows.fetchall()]
            counts: dict[int, dict[str, int]] = {}
            for run_id, kind, n in conn.execute(
                "SELECT run_id, kind, sum(n) FROM run_counts GROUP BY run_id, kind"
            ):
                counts.setdefault(run_id, {})[kind] = n
        return [Run(**{**r.__dict__, "counts": counts.get(r.id, {})}) for r in runs]


def _add_columns(conn: sqlite3.Connection) -> None:
    """Bring a history file written by an older version forward (in place, once)."""
    have = {row[1] for row in conn.execute("PRAGMA table_info(runs)")}
    for name, ddl in ADDED_COLUMNS.items():
        if name not in have:
            conn.execute(f"ALTER TABLE runs ADD COLUMN {name} {ddl}")
    conn.commit()
