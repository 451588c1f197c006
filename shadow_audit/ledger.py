"""The failure ledger: one JSON line per shadow write that did not happen."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from shadow_audit.clock import utc_stamp


@dataclass(frozen=True)
class LedgerEntry:
    """A shadow write that failed: when, for which document, and why."""

    time: str
    key: str
    document_hash: str
    error_class: str
    message: str

    def to_dict(self) -> dict[str, str]:
        """Return this LedgerEntry as plain data (JSON-ready)."""
        return {
            "time": self.time,
            "key": self.key,
            "document_hash": self.document_hash,
            "error_class": self.error_class,
            "message": self.message,
        }


@dataclass(frozen=True)
class LedgerContents:
    """What a ledger file holds; ``torn`` counts lines a dying writer cut short."""

    entries: tuple[LedgerEntry, ...]
    torn: int


def append_json_line(path: Path, record: dict[str, Any]) -> None:
    """Append one JSON line with one ``write`` on an O_APPEND descriptor, fsynced; a line a
    dying writer left unfinished is ended first, so ours stays whole.

    Args:
        path: the JSON-lines file (created with mode 0600 when new).
        record: the record to append.

    Raises:
        OSError: the file cannot be written.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    line = orjson.dumps(record, default=str) + b"\n"
    fd = os.open(path, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o600)
    try:
        size = os.fstat(fd).st_size
        if size and os.pread(fd, 1, size - 1) != b"\n":
            line = b"\n" + line
        os.write(fd, line)
        os.fsync(fd)
    finally:
        os.close(fd)


def default_ledger_path(database: Path | str) -> Path:
    """Return where a shadow's failure ledger lives: beside it, ``<db>.failures.jsonl``.

    Args:
        database: the shadow's SQLite file.

    Returns:
        The ledger's path.
    """
    db = Path(database)
    return db.with_name(db.name + ".failures.jsonl")


class FailureLedger:
    """Append-only JSON lines; each record is one ``write`` on an O_APPEND descriptor."""

    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)

    def record(self, *, key: str, document_hash: str, error: BaseException) -> LedgerEntry:
        """Append one failure of the shadow write, flushed to disk before returning.

        Args:
            key: the unit's document key.
            document_hash: the ``document_hash`` of what was being written.
            error: the exception the shadow write raised.

        Returns:
            The entry as written.

        Raises:
            OSError: the ledger file cannot be written.
        """
        entry = LedgerEntry(
            time=utc_stamp(),
            key=key,
            document_hash=document_hash,
            error_class=type(error).__name__,
            message=" ".join(str(error).split()) or type(error).__name__,
        )
        append_json_line(self.path, entry.to_dict())
        return entry

    def read(self) -> LedgerContents:
        """Every complete entry; lines cut short by a dying writer are counted, not fatal."""
        try:
            data = self.path.read_bytes()
        except FileNotFoundError:
            return LedgerContents(entries=(), torn=0)
        entries: list[LedgerEntry] = []
        torn = 0
        for line in data.split(b"\n"):
            if not line:
                continue
            try:
                entries.append(LedgerEntry(**orjson.loads(line)))
            except (orjson.JSONDecodeError, TypeError):
                torn += 1
        return LedgerContents(entries=tuple(entries), torn=torn)
