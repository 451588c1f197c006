"""Both stores as DataFrames, and the audit's verdict on every cell.

``frames(source, shadow)`` reads the two stores the way the audit does (the
same enumeration, parsing, validation and projection; a read-only connection to
the shadow) and keeps what it read, so that a person can look at it:
``.expected`` and ``.actual`` hold the rows, ``.compare(table)`` lays them side
by side cell by cell, ``.match_rates()`` sums that up per column.

There is one comparison engine: ``compare`` sorts rows with the audit's
``classify`` and judges cells with its ``judge_rows`` (same normalizers, same
order), so a cell is unequal here exactly when the audit reports it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from shadow_audit.config import Config
from shadow_audit.engine.compare import Cells, Classified, classify, judge_rows, shown
from shadow_audit.engine.findings import Finding
from shadow_audit.engine.load import Key, Rows, gc_paused, key_text, load_shadow
from shadow_audit.engine.source import SourceScan
from shadow_audit.errors import ConfigError, DatabaseError
from shadow_audit.mapping import DocumentMap, Entity, Field
from shadow_audit.mapping.projection import stored

COMPARE_COLUMNS = (
    "key",
    "column",
    "source_value",
    "shadow_value",
    "equal",
    "normalizer",
    "path",
    "kind",
)
MATCH_RATE_COLUMNS = ("compared", "equal", "normalized", "match_rate")


def key_columns(mapping: DocumentMap, entity: Entity) -> list[str]:
    """The names of a table's key parts, as the frames show them.

    Args:
        mapping: the map the table belongs to.
        entity: the table.

    Returns:
        The root's key column for a root table; for a child table, its parent's key
        column (the document key) and then its own key column when it has one. A name
        that a field already uses is prefixed with the parent table's name.
    """
    if entity.is_root:
        return [entity.key_column or "key"]
    parent = mapping.entity(entity.parent or "")
    names = [parent.key_column or "key"]
    if entity.key_column:
        names.append(entity.key_column)
    taken = {f.column for f in entity.compared_fields}
    if names[0] in taken or names[0] in names[1:]:
        names[0] = f"{parent.table}_{names[0]}"
    return names


def _sorted(rows: Rows) -> list[Key]:
    return sorted(rows, key=key_text)


class _LazyFrames(Mapping[str, pd.DataFrame]):
    """table -> DataFrame, each built on first use from the rows already read."""

    def __init__(self, build: dict[str, Callable[[], pd.DataFrame]]) -> None:
        self._build = build
        self._made: dict[str, pd.DataFrame] = {}

    def __getitem__(self, table: str) -> pd.DataFrame:
        if table not in self._made:
            self._made[table] = self._build[table]()
        return self._made[table]

    def __iter__(self) -> Iterator[str]:
        return iter(self._build)

    def __len__(self) -> int:
        return len(self._build)

    def __repr__(self) -> str:
        return f"<frames of {', '.join(self._build) or 'no tables'}>"


@dataclass(frozen=True)
class _Table:
    """One table as read: rows of both stores (keys left out by the audit dropped)."""

    entity: Entity
    keys: list[str]
    expected_fields: tuple[Field, ...]  # every compared field of the mapping
    fields: tuple[Field, ...] | None  # the compared fields the shadow has; None: no table
    expected: Rows
    actual: Rows
    judged: dict[str, tuple[Classified, Cells]] = field(default_factory=dict)

    def expected_on_shadow_columns(self) -> Rows:
        """Expected rows over the columns the shadow has, in its order."""
        assert self.fields is not None
        if self.fields == self.expected_fields:
            return self.expected
        at = [self.expected_fields.index(f) for f in self.fields]
        return {k: tuple(v[i] for i in at) for k, v in self.expected.items()}

    def verdicts(self) -> tuple[Classified, Cells]:
        """The audit's engine over this table: rows classified, differing cells judged."""
        if "all" not in self.judged:
            assert self.fields is not None
            classified = classify(self.expected_on_shadow_columns(), self.actual)
            keys = _sorted(classified.differing)
            self.judged["all"] = (classified, judge_rows(self.fields, keys, classified.differing))
        return self.judged["all"]


def _frame(columns: list[str], rows: Rows, *, as_stored: bool) -> pd.DataFrame:
    records = [(*k, *(stored(rows[k]) if as_stored else rows[k])) for k in _sorted(rows)]
    return pd.DataFrame.from_records(records, columns=columns) if records else _empty(columns)


def _empty(columns: list[str]) -> pd.DataFrame:
    return pd.DataFrame({c: pd.Series(dtype=object) for c in columns})


def _left_out(rows: Rows, excluded: set[Any]) -> Rows:
    """Rows without those the audit leaves out (a whole document's key, or one row's)."""
    if not excluded:
        return rows
    return {k: v for k, v in rows.items() if k[0] not in excluded and k not in excluded}


@dataclass(frozen=True)
class Frames:
    """Both stores as DataFrames, read once; the tables are the mapping's.

    Attributes:
        source: the JSON store folder that was read.
        shadow: the SQLite database that was read.
        expected: table -> rows projected from the JSON, key columns first, then every
            compared column of the mapping (values in the form the shadow stores them).
        actual: table -> rows read from SQLite, key columns first, then the compared
            columns the database has. Tables the database lacks are absent.
        problems: what the audit leaves out of the comparison and reports instead:
            ``invalid_source`` and ``duplicate_key`` findings. Their rows are in
            neither ``expected`` nor ``actual``.
        missing_tables: mapped tables the database lacks.
        missing_columns: mapped columns the database lacks (``{"entity", "column",
            "path", "document"}`` each).
    """

    source: str
    shadow: str
    expected: Mapping[str, pd.DataFrame]
    actual: Mapping[str, pd.DataFrame]
    problems: tuple[Finding, ...]
    missing_tables: tuple[str, ...]
    missing_columns: tuple[dict[str, Any], ...]
    _tables: dict[str, _Table] = field(repr=False)

    def __repr__(self) -> str:
        return (
            f"Frames(source={self.source!r}, shadow={self.shadow!r}, "
            f"tables={list(self._tables)}, problems={len(self.problems)}, "
            f"missing_tables={list(self.missing_tables)})"
        )

    def compare(self, table: str) -> pd.DataFrame:
        """The two stores side by side, one row per cell, with the audit's verdict.

        Rows present in both stores give one line per compared column; a row
        missing from the shadow (or extra in it) gives one line per column too,
        with the other side None and ``kind`` set accordingly.

        Args:
            table: a mapped table the shadow has.

        Returns:
            A DataFrame, sorted by key then column, with the columns ``key`` (as in
            findings: ``"proj-7"``, ``"proj-7/3"``), ``column``, ``source_value``,
            ``shadow_value`` (as findings show them: JSON columns decoded),
            ``equal`` (bool), ``normalizer`` (the normalizer that made the cell
            equal, None when equal as stored or unequal), ``path`` (the JSON path)
            and ``kind`` (None, ``value_mismatch``, ``missing_in_shadow`` or
            ``extra_in_shadow``).

        Raises:
            ConfigError: the mapping has no such table.
            DatabaseError: the shadow has no such table.
        """
        t = self._table(table)
        assert t.fields is not None
        classified, cells = t.verdicts()
        fields, entity = t.fields, t.entity
        paths = [entity.source_path(f) for f in fields]
        position = {k: i for i, k in enumerate(cells.keys)}
        columns: dict[str, list[Any]] = {c: [] for c in COMPARE_COLUMNS}

        def add(key: str, column: str | None, src: Any, shd: Any, *rest: Any) -> None:
            for name, value in zip(COMPARE_COLUMNS, (key, column, src, shd, *rest), strict=True):
                columns[name].append(value)

        for k in _sorted({**t.expected, **t.actual}):
            text = key_text(k)
            if k in classified.missing or k in classified.extra:
                missing = k in classified.missing
                kind = "missing_in_shadow" if missing else "extra_in_shadow"
                values = stored(classified.missing[k]) if missing else classified.extra[k]
                if not fields:  # a table of keys only: the row is the finding
                    add(text, None, None, None, False, None, entity.key_source_path, kind)
                for f, v, path in zip(fields, values, paths, strict=True):
                    both = (shown(f, v), None) if missing else (None, shown(f, v))
                    add(text, f.column, *both, False, None, path, kind)
            elif k in position:
                i = position[k]
                for f, path in zip(fields, paths, strict=True):
                    c = f.column
                    ok = bool(cells.equal[c].iat[i])
                    src, shd = cells.expected[c].iat[i], cells.actual[c].iat[i]
                    applied = cells.normalizer[c].iat[i]
                    add(text, c, shown(f, src), shown(f, shd), ok, applied, path,
                        None if ok else "value_mismatch")  # fmt: skip
            else:  # identical as stored
                if not fields:
                    add(text, None, None, None, True, None, entity.key_source_path, None)
                for f, v, path in zip(fields, t.actual[k], paths, strict=True):
                    value = shown(f, v)
                    add(text, f.column, value, value, True, None, path, None)
        frame = pd.DataFrame({c: pd.Series(v, dtype=object) for c, v in columns.items()})
        frame["equal"] = frame["equal"].astype(bool)
        return frame

    def match_rates(self) -> pd.DataFrame:
        """The share of equal values per table and column, for every compared column.

        As datacompy's column summary: over the rows present in both stores
        (missing and extra rows are counted by the audit's summary, not here).

        Returns:
            A DataFrame indexed by (``table``, ``column``) with ``compared`` (rows in
            both stores), ``equal`` (cells the audit accepts), ``normalized`` (of
            those, cells equal only after a normalizer) and ``match_rate``
            (``equal / compared``; NaN when no row is in both stores). Tables the
            shadow lacks are left out.
        """
        records: list[tuple[Any, ...]] = []
        for name, t in self._tables.items():
            if t.fields is None:
                continue
            classified, cells = t.verdicts()
            both = classified.source_rows - len(classified.missing)
            identical = both - len(cells.keys)
            for f in t.fields:
                equal = identical + int(cells.equal[f.column].sum()) if cells.keys else both
                normalized = int(cells.normalizer[f.column].notna().sum()) if cells.keys else 0
                rate = equal / both if both else float("nan")
                records.append((name, f.column, both, equal, normalized, rate))
        frame = pd.DataFrame.from_records(records, columns=["table", "column", *MATCH_RATE_COLUMNS])
        return frame.set_index(["table", "column"])

    def _table(self, table: str) -> _Table:
        if table not in self._tables:
            raise ConfigError(f"frames: no table {table!r} in the mapping")
        t = self._tables[table]
        if t.fields is None:
            raise DatabaseError(f"shadow {self.shadow}: no table {table!r}")
        return t


def frames(
    source: Path | str,
    shadow: Path | str,
    *,
    config: Config | None = None,
) -> Frames:
    """Read both stores as the audit does, and keep them as DataFrames.

    The source is enumerated, parsed, validated and projected through the
    mapping; the shadow is read over a read-only connection. Documents the audit
    cannot compare (invalid, duplicate keys) are left out and listed in
    ``Frames.problems``. Ignore rules are not applied: every cell is shown.

    Args:
        source: the JSON store folder.
        shadow: the SQLite database (never written).
        config: the mapping and validation setting (default: the built-in profile,
            validation on).

    Returns:
        The ``Frames`` of both stores.

    Raises:
        SourceError: the source folder cannot be read.
        DatabaseError: the database is missing, unreadable or not SQLite.
    """
    config = config or Config()
    mapping = config.mapping
    with gc_paused(), SourceScan(source, mapping, validate=config.validate) as scan:
        actual = load_shadow(shadow, mapping)
        mapping = actual.mapping or mapping  # as the database keys its tables, as the audit
        every = {e.table: e.compared_fields for e in mapping.entities}
        expected = scan.load(every, mapping=mapping)
    tables: dict[str, _Table] = {}
    for entity in mapping.entities:
        name = entity.table
        left_out = expected.excluded.get(name, set()) | actual.excluded.get(name, set())
        tables[name] = _Table(
            entity=entity,
            keys=key_columns(mapping, entity),
            expected_fields=every[name],
            fields=actual.fields.get(name),
            expected=_left_out(expected.rows[name], left_out),
            actual=_left_out(actual.rows.get(name, {}), left_out),
        )

    def build(t: _Table, *, shadow_side: bool) -> Callable[[], pd.DataFrame]:
        fields = t.fields if shadow_side else t.expected_fields
        columns = [*t.keys, *(f.column for f in fields or ())]
        rows = t.actual if shadow_side else t.expected
        return lambda: _frame(columns, rows, as_stored=not shadow_side)

    return Frames(
        source=str(source),
        shadow=str(shadow),
        expected=_LazyFrames({n: build(t, shadow_side=False) for n, t in tables.items()}),
        actual=_LazyFrames(
            {n: build(t, shadow_side=True) for n, t in tables.items() if t.fields is not None}
        ),
        problems=tuple(
            sorted(
                [*expected.problems, *actual.duplicates],
                key=lambda f: (f.kind != "invalid_source", f.entity, f.key),
            )
        ),
        missing_tables=tuple(actual.missing_tables),
        missing_columns=tuple(actual.missing_columns),
        _tables=tables,
    )
