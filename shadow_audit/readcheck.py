"""Verified reads (phase read-verify): one document's JSON against its SQLite rows, compared
the way the audit compares, with both sides' latencies kept in ``<db>.reads.jsonl``."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from collections.abc import Mapping as MappingABC
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import orjson

from shadow_audit.mapping import (
    DocumentMap,
    Entity,
    Field,
    Projector,
    TableRows,
    compile_projector,
)

if TYPE_CHECKING:
    from shadow_audit.engine.findings import Finding


@dataclass(frozen=True)
class ReadCheck:
    """One verified read: equal or not, the findings, and both sides' latencies.

    ``skipped`` says why a sampled read was not verified (the unit's lock stayed busy):
    such a record is neither a match nor a mismatch, and ``matched`` is False.
    """

    time: str
    key: str
    matched: bool
    json_ms: float
    sqlite_ms: float | None
    findings: tuple[dict[str, Any], ...] = ()
    error: str | None = None
    skipped: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """Return this ReadCheck as plain data (JSON-ready)."""
        return {**dataclasses.asdict(self), "findings": list(self.findings)}


def reads_log_path(database: Path | str) -> Path:
    """Where the verified reads of a shadow database are recorded.

    Args:
        database: the shadow's SQLite file.

    Returns:
        The log's path, beside the database.
    """
    db = Path(database)
    return db.with_name(db.name + ".reads.jsonl")


def read_checks(path: Path | str, *, include_skipped: bool = False) -> list[ReadCheck]:
    """The verified reads of a reads log (lines cut short by a dying process are left out).

    Args:
        path: the reads log (``reads_log_path``).
        include_skipped: also return the sampled reads that were not verified because
            the unit's lock stayed busy (by default only verifications count).

    Returns:
        The records, oldest first; none when the log does not exist.
    """
    try:
        data = Path(path).read_bytes()
    except FileNotFoundError:
        return []
    out: list[ReadCheck] = []
    for line in data.split(b"\n"):
        if not line:
            continue
        try:
            raw = orjson.loads(line)
            check = ReadCheck(**{**raw, "findings": tuple(raw.get("findings", ()))})
        except (orjson.JSONDecodeError, TypeError):
            continue
        if include_skipped or check.skipped is None:
            out.append(check)
    return out


class RowVerifier:
    """``verify_rows`` for one map, its projectors compiled once per table and column set.

    Expected rows come from ``compile_projector`` (as the audit's source side makes them);
    the columns a table has are those its rows were read with, or ``columns`` when the key
    has no row there to tell.
    """

    def __init__(self, mapping: DocumentMap) -> None:
        self.mapping = mapping
        self._plans: dict[tuple[str, frozenset[str]], _Plan] = {}

    def _plan(self, entity: Entity, present: frozenset[str]) -> _Plan:
        plan = self._plans.get((entity.table, present))
        if plan is None:
            fields = tuple(f for f in entity.compared_fields if f.column in present)
            plan = (fields, compile_projector(entity, fields))
            self._plans[(entity.table, present)] = plan
        return plan

    def __call__(
        self,
        key: str,
        documents: MappingABC[str, Any],
        rows: MappingABC[str, TableRows],
        *,
        columns: Callable[[str], set[str]],
    ) -> list[Finding]:
        """The findings of one key (see ``verify_rows``)."""
        from shadow_audit.engine.compare import compare_entity

        findings: list[Finding] = []
        for e in self.mapping.entities:
            names, table_rows = rows.get(e.table) or ((), [])
            present = frozenset(names) if names else frozenset(columns(e.table))
            fields, project = self._plan(e, present)
            single = e.is_root or not e.key_column
            doc = documents.get(e.document)
            expected = {
                ((key,) if single else (key, child)): values
                for child, values in (project(doc) if doc is not None else ())
            }
            index = {name: i for i, name in enumerate(names)}
            at = [index.get(f.column) for f in fields]
            key_at = None if single else index.get(e.key_column or "")
            actual = {
                ((key,) if single else (key, None if key_at is None else row[key_at])): tuple(
                    None if i is None else row[i] for i in at
                )
                for row in table_rows
            }
            findings += compare_entity(e, fields, expected, actual).findings
        return findings


_Plan = tuple[tuple[Field, ...], Projector]


def verify_rows(
    mapping: DocumentMap,
    key: str,
    documents: MappingABC[str, Any],
    rows: MappingABC[str, TableRows],
    *,
    columns: Callable[[str], set[str]],
) -> list[Finding]:
    """The audit's comparison for one document key: the JSON documents projected through the
    mapping against the rows SQLite holds (``UnitReader.read``), same normalizers, same kinds.

    Args:
        mapping: the document map.
        key: the document key.
        documents: {name: document} as read from JSON.
        rows: the key's rows per table, as (column names, row tuples).
        columns: the columns a table has in the database (absent ones are not compared).

    Returns:
        The findings; empty when the two agree.
    """
    return RowVerifier(mapping)(key, documents, rows, columns=columns)
