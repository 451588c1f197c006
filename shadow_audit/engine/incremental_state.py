"""The state an incremental audit keeps between runs, in one SQLite file under ``--out``.

What it holds: which database and config it belongs to, the last change-record number
seen, when the last full audit ran; per source folder the stat signature of its files
and the key its primary document held; per unit its findings and what it adds to the
summary (row counts per table, normalizer counts, unmapped paths), and the totals, so a
run updates the totals by the changed units' deltas instead of summing every unit again;
validation verdicts by content hash. A run writes its changes in one transaction.
"""

from __future__ import annotations

import json
import sqlite3
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from shadow_audit.engine.findings import FINDING_COLUMNS, Finding

STATE_FORMAT = "1"
COUNTS = (
    "source_rows",
    "shadow_rows",
    "matched",
    "mismatched",
    "missing_in_shadow",
    "extra_in_shadow",
)
_DDL = """
CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS files (
    primary_path TEXT PRIMARY KEY, unit TEXT NOT NULL, sig TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS units (unit TEXT PRIMARY KEY, part BLOB NOT NULL, findings TEXT);
CREATE INDEX IF NOT EXISTS units_with_findings ON units(unit) WHERE findings IS NOT NULL;
CREATE TABLE IF NOT EXISTS verdicts (hash TEXT PRIMARY KEY, reasons TEXT NOT NULL);
"""


class StateUnusable(Exception):
    """The state cannot be used; the message says why (the run then audits in full)."""


@dataclass
class UnitPart:
    """What one unit adds to the totals: rows per table, normalizer counts, unmapped paths."""

    tables: dict[str, list[int]] = field(default_factory=dict)  # table -> COUNTS
    normalizers: Counter[str] = field(default_factory=Counter)
    unmapped: set[tuple[str, str]] = field(default_factory=set)

    def dump(self) -> bytes:
        """Return the part as stored."""
        return orjson.dumps(
            {"t": self.tables, "n": dict(self.normalizers), "u": sorted(self.unmapped)}
        )

    @classmethod
    def load(cls, data: bytes) -> UnitPart:
        """Return a stored part.

        Args:
            data: the part as ``dump`` stored it.

        Returns:
            The part.
        """
        raw = orjson.loads(data)
        return cls(raw["t"], Counter(raw["n"]), {(d, p) for d, p in raw["u"]})


@dataclass
class Totals:
    """The sum of every unit's part, kept up to date by deltas."""

    tables: dict[str, list[int]] = field(default_factory=dict)
    normalizers: Counter[str] = field(default_factory=Counter)
    unmapped: Counter[tuple[str, str]] = field(default_factory=Counter)

    def add(self, part: UnitPart, sign: int = 1) -> None:
        """Add (``sign`` 1) or take away (-1) one unit's part.

        Args:
            part: the unit's part.
            sign: 1 to add it, -1 to take it away.
        """
        for table, counts in part.tables.items():
            have = self.tables.setdefault(table, [0] * len(COUNTS))
            for i, n in enumerate(counts):
                have[i] += sign * n
        for name, n in part.normalizers.items():
            self.normalizers[name] += sign * n
        for path in part.unmapped:
            self.unmapped[path] += sign
            if not self.unmapped[path]:
                del self.unmapped[path]

    def dump(self) -> str:
        """Return the totals as stored."""
        return orjson.dumps(
            {
                "t": self.tables,
                "n": {k: v for k, v in self.normalizers.items() if v},
                "u": [[d, p, n] for (d, p), n in sorted(self.unmapped.items())],
            }
        ).decode()

    @classmethod
    def load(cls, text: str) -> Totals:
        """Return stored totals.

        Args:
            text: the totals as ``dump`` stored them.

        Returns:
            The totals.
        """
        raw = orjson.loads(text)
        return cls(raw["t"], Counter(raw["n"]), Counter({(d, p): n for d, p, n in raw["u"]}))


def _tagged(value: Any) -> Any:
    if isinstance(value, bytes | bytearray):
        return {"$bytes": bytes(value).hex()}
    raise TypeError(f"{type(value).__name__} is not JSON")


def _untagged(obj: dict[str, Any]) -> Any:
    if len(obj) == 1 and "$bytes" in obj:
        return bytes.fromhex(obj["$bytes"])
    return obj


def dump_findings(findings: list[Finding]) -> str | None:
    """Return a unit's findings as stored (None for none); values survive exactly.

    Args:
        findings: the unit's findings.

    Returns:
        JSON text (bytes tagged), or None.
    """
    if not findings:
        return None
    return json.dumps([[getattr(f, c) for c in FINDING_COLUMNS] for f in findings], default=_tagged)


def load_findings(text: str) -> list[Finding]:
    """Return stored findings.

    Args:
        text: what ``dump_findings`` stored.

    Returns:
        The findings.
    """
    return [Finding(*row) for row in json.loads(text, object_hook=_untagged)]


class IncrementalState:
    """The state file: read once at the start of a run, changed in one transaction at its end."""

    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)
        self.conn: sqlite3.Connection | None = None

    def open(self) -> dict[str, str]:
        """Open the file and return its meta table.

        Returns:
            name -> value; empty for a new file.

        Raises:
            StateUnusable: the file cannot be read as this state (corrupt, another format).
        """
        existed = self.path.exists()
        try:
            self.conn = sqlite3.connect(self.path, timeout=30, isolation_level=None)
            if existed:
                meta = dict(self.conn.execute("SELECT name, value FROM meta"))
                if meta.get("format") != STATE_FORMAT or meta.get("complete") != "1":
                    raise StateUnusable(f"state {self.path}: unfinished or another format")
                return meta
            self.conn.executescript(_DDL)
        except sqlite3.DatabaseError as exc:
            raise StateUnusable(f"state {self.path}: cannot be read ({exc})") from exc
        return {}

    def reset(self) -> None:
        """Start the file over (a full audit rewrites every table)."""
        self.close()
        for suffix in ("", "-journal", "-wal", "-shm"):
            Path(f"{self.path}{suffix}").unlink(missing_ok=True)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.conn = sqlite3.connect(self.path, timeout=30, isolation_level=None)
        self.conn.executescript(_DDL)

    def close(self) -> None:
        """Close the file."""
        if self.conn is not None:
            self.conn.close()
            self.conn = None

    def _db(self) -> sqlite3.Connection:
        if self.conn is None:
            raise StateUnusable(f"state {self.path}: not open")
        return self.conn

    def files(self) -> dict[str, tuple[str, str]]:
        """Return folder -> (unit key, signature) of every source folder."""
        rows = self._db().execute("SELECT primary_path, unit, sig FROM files")
        return {f: (u, s) for f, u, s in rows}

    def parts(self, units: Iterable[str]) -> dict[str, UnitPart]:
        """Return the stored parts of these units (those that have one).

        Args:
            units: unit keys.

        Returns:
            unit key -> its part.
        """
        out = {}
        for unit in units:
            row = self._db().execute("SELECT part FROM units WHERE unit = ?", (unit,)).fetchone()
            if row is not None:
                out[unit] = UnitPart.load(row[0])
        return out

    def findings(self) -> dict[str, list[Finding]]:
        """Return unit -> findings, for every unit that has findings."""
        rows = self._db().execute("SELECT unit, findings FROM units WHERE findings IS NOT NULL")
        return {unit: load_findings(text) for unit, text in rows}

    def verdict(self, digest: str) -> list[str] | None:
        """Return the cached schema problems of a document content, or None if unknown.

        Args:
            digest: the content's hash.

        Returns:
            The problems (empty: valid), or None.
        """
        sql = "SELECT reasons FROM verdicts WHERE hash = ?"
        row = self._db().execute(sql, (digest,)).fetchone()
        return None if row is None else list(json.loads(row[0]))

    def write(
        self,
        *,
        meta: dict[str, str],
        files: dict[str, tuple[str, str] | None],
        units: dict[str, tuple[UnitPart, list[Finding]] | None],
        verdicts: dict[str, list[str]],
    ) -> None:
        """Store a run's changes in one transaction; None deletes a folder or a unit.

        Args:
            meta: names and values to set (``complete`` is set last).
            files: folder -> (unit key, signature), or None when it is gone.
            units: unit -> (part, findings), or None when it is gone.
            verdicts: content hash -> schema problems.
        """
        db = self._db()
        db.execute("BEGIN IMMEDIATE")
        try:
            gone = [(f,) for f, v in files.items() if v is None]
            db.executemany("DELETE FROM files WHERE primary_path = ?", gone)
            db.executemany(
                "INSERT OR REPLACE INTO files (primary_path, unit, sig) VALUES (?, ?, ?)",
                [(f, *v) for f, v in files.items() if v is not None],
            )
            db.executemany(
                "DELETE FROM units WHERE unit = ?", [(u,) for u, v in units.items() if v is None]
            )
            db.executemany(
                "INSERT OR REPLACE INTO units (unit, part, findings) VALUES (?, ?, ?)",
                [(u, v[0].dump(), dump_findings(v[1])) for u, v in units.items() if v is not None],
            )
            db.executemany(
                "INSERT OR REPLACE INTO verdicts (hash, reasons) VALUES (?, ?)",
                [(h, json.dumps(r)) for h, r in verdicts.items()],
            )
            db.executemany(
                "INSERT OR REPLACE INTO meta (name, value) VALUES (?, ?)",
                [*meta.items(), ("format", STATE_FORMAT), ("complete", "1")],
            )
        except BaseException:
            db.execute("ROLLBACK")
            raise
        db.execute("COMMIT")
