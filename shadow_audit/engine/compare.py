"""Compare the expected and actual rows of one table: exact, then normalizers, then deepdiff.

``compare_entity`` is a pure function of (expected part, actual part, mapping
entity), so it can run per key partition.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable, Collection
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import orjson

from shadow_audit.engine.findings import EntitySummary, Finding
from shadow_audit.engine.load import Rows, key_text
from shadow_audit.mapping import Entity, Field, canonical_json
from shadow_audit.mapping.projection import stored

if TYPE_CHECKING:  # pandas and deepdiff load only when rows differ: a GREEN run starts faster
    import pandas as pd

NORMALIZERS = (
    "float_tolerance",
    "timestamp_instant",
    "json_canonical",
    "list_as_set",
    "null_as_empty",
)
Normalizer = Callable[[Field, "pd.Series", "pd.Series"], "pd.Series"]


@dataclass
class EntityComparison:
    """The outcome for one table (or one partition of it)."""

    summary: EntitySummary
    findings: list[Finding] = field(default_factory=list)
    normalizers: Counter[str] = field(default_factory=Counter)
    # the normalizer counts per document key (an incremental audit's state keeps them)
    unit_normalizers: dict[Any, Counter[str]] = field(default_factory=dict)


def _float_tolerance(fld: Field, e: pd.Series, a: pd.Series) -> pd.Series:
    import pandas as pd

    en = pd.to_numeric(e.where(~e.map(lambda v: isinstance(v, bool))), errors="coerce")
    an = pd.to_numeric(a.where(~a.map(lambda v: isinstance(v, bool))), errors="coerce")
    bound = (pd.concat([en.abs(), an.abs()], axis=1).max(axis=1) * fld.rel_tol).clip(
        lower=fld.abs_tol
    )
    ok = (en - an).abs() <= bound
    return ok.fillna(False).astype(bool)


def _timestamp_instant(fld: Field, e: pd.Series, a: pd.Series) -> pd.Series:
    import pandas as pd

    et = pd.to_datetime(e.astype(object), utc=True, errors="coerce", format="ISO8601")
    at = pd.to_datetime(a.astype(object), utc=True, errors="coerce", format="ISO8601")
    return ((et == at) & et.notna() & at.notna()).astype(bool)


def _loads(value: Any) -> Any:
    if isinstance(value, str | bytes):
        try:
            return orjson.loads(value)
        except orjson.JSONDecodeError:
            return value
    return value


def _json_with(set_like: bool) -> Normalizer:
    def normalize(fld: Field, e: pd.Series, a: pd.Series) -> pd.Series:
        import pandas as pd

        def same(x: Any, y: Any) -> bool:
            if x is None or y is None:
                return False
            try:
                a = canonical_json(_loads(x), set_like=set_like)
                b = canonical_json(_loads(y), set_like=set_like)
            except TypeError:  # not JSON at all (a BLOB, say): not the same
                return False
            return a == b

        return pd.Series([same(x, y) for x, y in zip(e, a, strict=True)], index=e.index, dtype=bool)

    return normalize


_EMPTY = (None, "", "[]", "{}")
_NONE: Any = object()


def _null_as_empty(fld: Field, e: pd.Series, a: pd.Series) -> pd.Series:
    import pandas as pd

    return pd.Series(
        [
            (x is None) != (y is None) and x in _EMPTY and y in _EMPTY
            for x, y in zip(e, a, strict=True)
        ],
        index=e.index,
        dtype=bool,
    )


def normalizers_for(fld: Field) -> list[tuple[str, Normalizer]]:
    """The named normalizers that apply to a column, in the order they are tried.

    Args:
        fld: the column's mapping field.

    Returns:
        ``(name, normalizer)`` pairs: float tolerance for REAL columns, timestamps as
        instants, canonical JSON (then lists as sets when the field is set-like) for
        JSON columns, and null-as-empty when the field allows it.
    """
    chain: list[tuple[str, Normalizer]] = []
    if fld.type == "real":
        chain.append(("float_tolerance", _float_tolerance))
    if fld.type == "timestamp":
        chain.append(("timestamp_instant", _timestamp_instant))
    if fld.type == "json" or fld.paths:
        chain.append(("json_canonical", _json_with(False)))
        if fld.set_like:
            chain.append(("list_as_set", _json_with(True)))
    if fld.null_equals_empty:
        chain.append(("null_as_empty", _null_as_empty))
    return chain


def shown(fld: Field, value: Any) -> Any:
    """A value as a report shows it: JSON columns decoded.

    Args:
        fld: the column's mapping field.
        value: the value in its stored form.

    Returns:
        The decoded JSON for a JSON column (the text itself when it is not JSON),
        else the value unchanged.
    """
    return _loads(value) if (fld.type == "json" or fld.paths) else value


_SCALARS = (str, int, float, bool, type(None))


def scalar_detail(source: Any, shadow: Any) -> dict[str, Any]:
    """DeepDiff's verdict on two differing scalars, without DeepDiff's cost (~1 ms a call).

    Args:
        source: the source's value (str, int, float, bool or None).
        shadow: the shadow's value, which differs from it.

    Returns:
        What ``DeepDiff(source, shadow).to_json()`` decodes to: ``values_changed``
        for values of one type, ``type_changes`` otherwise.
    """
    if type(source) is type(shadow):
        return {"values_changed": {"root": {"new_value": shadow, "old_value": source}}}
    change = {
        "old_type": type(source).__name__,
        "new_type": type(shadow).__name__,
        "old_value": source,
        "new_value": shadow,
    }
    return {"type_changes": {"root": change}}


def _diff_detail(fld: Field, source: Any, shadow: Any) -> Any:
    """The diff of one cell: deepdiff for nested values, its scalar verdict for the rest."""
    from deepdiff import DeepDiff

    old, new = shown(fld, source), shown(fld, shadow)
    if isinstance(old, _SCALARS) and isinstance(new, _SCALARS):
        return scalar_detail(old, new)
    return json.loads(DeepDiff(old, new, ignore_order=fld.set_like).to_json())


@dataclass
class Classified:
    """Rows of one table sorted into what needs a finding, plus the row counts."""

    missing: dict[Any, tuple[Any, ...]] = field(default_factory=dict)  # key -> expected values
    differing: dict[Any, tuple[tuple[Any, ...], tuple[Any, ...]]] = field(default_factory=dict)
    extra: dict[Any, tuple[Any, ...]] = field(default_factory=dict)  # key -> actual values
    source_rows: int = 0
    shadow_rows: int = 0


def _sort_rows(out: Classified, expected: Rows, lookup: Callable[[Any, Any], Any]) -> None:
    """Expected rows into missing or differing; ``lookup`` is the shadow's get (or pop)."""
    for k, v in expected.items():
        a = lookup(k, _NONE)
        if a is _NONE:
            out.missing[k] = v
        elif a != v:
            out.differing[k] = (v, a)


def classify(expected: Rows, actual: Rows, *, excluded: Collection[Any] = ()) -> Classified:
    """Key-level pass: missing, extra, and rows that are not identical (cheap tuple equality).

    Args:
        expected: row key -> values, projected from the source.
        actual: row key -> values, read from the shadow (same fields, same order).
        excluded: document keys (a row key's first part) or row keys to leave out of
            both the rows and the counts.

    Returns:
        The rows sorted into missing, differing and extra, with the row counts.
    """
    out = Classified(source_rows=len(expected), shadow_rows=len(actual))
    _sort_rows(out, expected, actual.get)
    if len(actual) > len(expected) - len(out.missing):
        out.extra = {k: v for k, v in actual.items() if k not in expected}
    if excluded:
        drop(out, excluded, expected_keys=expected, actual_keys=actual)
    return out


def drop(
    out: Classified, excluded: Collection[Any], *, expected_keys: Any, actual_keys: Any
) -> None:
    """Leave out rows whose document key (or row key) is excluded, from results and counts.

    Args:
        out: the classified rows, changed in place.
        excluded: document keys or row keys to leave out.
        expected_keys: every source row key (for the counts).
        actual_keys: every shadow row key (for the counts).
    """

    def gone(k: Any) -> bool:
        return k[0] in excluded or k in excluded

    for rows in (out.missing, out.differing, out.extra):
        for k in [k for k in rows if gone(k)]:
            del rows[k]
    out.source_rows -= sum(1 for k in expected_keys if gone(k))
    out.shadow_rows -= sum(1 for k in actual_keys if gone(k))


class StreamCompare:
    """``classify`` one document at a time, without keeping the expected rows.

    Shadow rows are popped as their source rows arrive, so memory holds the shadow's
    rows once plus what differs; whatever is left at the end is extra.
    """

    def __init__(self, actual: Rows) -> None:
        """Start a compare against the shadow's rows of one table.

        Args:
            actual: row key -> values read from the shadow; consumed (rows are popped).
        """
        self.actual = actual  # consumed
        self.out = Classified(shadow_rows=len(actual))
        self.fed: Counter[Any] = Counter()  # document key -> source rows
        self.met: Counter[Any] = Counter()  # document key -> shadow rows popped

    def feed(self, rows: Rows) -> None:
        """Compare the rows of one document as they arrive.

        Args:
            rows: row key -> values of one document (all with the same document key).
        """
        if not rows:
            return
        out = self.out
        missing_before = len(out.missing)
        _sort_rows(out, rows, self.actual.pop)
        doc = next(iter(rows))[0]
        self.fed[doc] += len(rows)
        self.met[doc] += len(rows) - (len(out.missing) - missing_before)
        out.source_rows += len(rows)

    def finish(self, excluded: Collection[Any] = ()) -> Classified:
        """The shadow's rows left over are extra; leave out what is excluded.

        Args:
            excluded: document keys or row keys to leave out of the rows and counts.

        Returns:
            The rows sorted into missing, differing and extra, as ``classify`` gives.
        """
        out = self.out
        out.extra = self.actual
        for key in excluded:
            if isinstance(key, tuple):  # one row
                if out.missing.pop(key, _NONE) is not _NONE:
                    out.source_rows -= 1
                elif out.differing.pop(key, _NONE) is not _NONE:
                    out.source_rows -= 1
                    out.shadow_rows -= 1
                elif out.extra.pop(key, _NONE) is not _NONE:
                    out.shadow_rows -= 1
            else:  # a whole document
                out.source_rows -= self.fed.pop(key, 0)
                out.shadow_rows -= self.met.pop(key, 0)
        docs = {k for k in excluded if not isinstance(k, tuple)}
        if docs:
            for rows in (out.missing, out.differing):
                for k in [k for k in rows if k[0] in docs]:
                    del rows[k]
            leftover = [k for k in out.extra if k[0] in docs]
            for k in leftover:
                del out.extra[k]
            out.shadow_rows -= len(leftover)
        return out


def compare_entity(
    entity: Entity,
    fields: tuple[Field, ...],
    expected: Rows,
    actual: Rows,
    *,
    excluded: Collection[Any] = (),
) -> EntityComparison:
    """Missing and extra rows by key, then field by field for rows that are not identical.

    Args:
        entity: the table.
        fields: the compared fields, in the order of the values in the rows.
        expected: row key -> values projected from the source.
        actual: row key -> values read from the shadow.
        excluded: document keys or row keys to leave out.

    Returns:
        The findings, the summary and the normalizer counts of the table.
    """
    return findings_for(entity, fields, classify(expected, actual, excluded=excluded))


def findings_for(
    entity: Entity, fields: tuple[Field, ...], classified: Classified
) -> EntityComparison:
    """Findings and the summary of one table from its classified rows.

    Args:
        entity: the table.
        fields: the compared fields, in the order of the values in the rows.
        classified: the rows sorted by ``classify`` or ``StreamCompare``.

    Returns:
        The findings (sorted by key), the summary and the normalizer counts.
    """
    columns = [f.column for f in fields]
    out = EntityComparison(summary=EntitySummary(entity=entity.table))
    path = entity.key_source_path or entity.document

    def row_shown(values: tuple[Any, ...]) -> dict[str, Any]:
        return {c: shown(f, v) for c, f, v in zip(columns, fields, values, strict=True)}

    for kind, rows in (
        ("missing_in_shadow", classified.missing),
        ("extra_in_shadow", classified.extra),
    ):
        for k in sorted(rows, key=key_text):
            values = row_shown(rows[k])
            out.findings.append(
                Finding(
                    kind=kind,
                    entity=entity.table,
                    key=key_text(k),
                    path=path,
                    document=entity.document,
                    source_value=values if kind == "missing_in_shadow" else None,
                    shadow_value=values if kind == "extra_in_shadow" else None,
                )
            )
    differing = sorted(classified.differing, key=key_text)
    mismatched_rows = _compare_values(entity, fields, differing, classified.differing, out)
    common = classified.source_rows - len(classified.missing)
    out.summary = EntitySummary(
        entity=entity.table,
        source_rows=classified.source_rows,
        shadow_rows=classified.shadow_rows,
        matched=common - mismatched_rows,
        mismatched=mismatched_rows,
        missing_in_shadow=len(classified.missing),
        extra_in_shadow=len(classified.extra),
        compared_columns=len(fields),
    )
    return out


@dataclass(frozen=True)
class Cells:
    """The rows that are not identical, cell by cell, with the verdict on every cell.

    ``expected`` and ``actual`` hold the rows in ``keys`` order (expected values in
    their stored form), one column per field; ``equal[column]`` says whether each
    cell passed, ``normalizer[column]`` names the normalizer that let it pass (None
    when the values were equal as they are, or differ).
    """

    keys: list[Any]
    expected: pd.DataFrame
    actual: pd.DataFrame
    equal: dict[str, pd.Series]
    normalizer: dict[str, pd.Series]


def judge(fld: Field, expected: pd.Series, actual: pd.Series) -> tuple[pd.Series, pd.Series]:
    """The audit's verdict on each pair of cells of one column.

    Equal as they are, or after the first of the column's normalizers that
    accepts them (``normalizers_for``, tried in order on the cells still pending).

    Args:
        fld: the column's mapping field; its type, tolerances and flags choose the
            normalizers.
        expected: the source's values, in their stored form.
        actual: the shadow's values, with the same index.

    Returns:
        ``(equal, normalizer)``: a bool Series, and an object Series holding the
        name of the normalizer that let each cell pass (None elsewhere).
    """
    import pandas as pd

    pending = ~((expected == actual) | (expected.isna() & actual.isna()))
    applied = pd.Series([None] * len(expected), index=expected.index, dtype=object)
    for name, normalize in normalizers_for(fld):
        if not pending.any():
            break
        ok = normalize(fld, expected[pending], actual[pending])
        passed = ok.index[ok.to_numpy()]
        applied.loc[passed] = name
        pending.loc[passed] = False
    return ~pending, applied


def judge_rows(
    fields: tuple[Field, ...],
    keys: list[Any],
    pairs: dict[Any, tuple[tuple[Any, ...], tuple[Any, ...]]],
) -> Cells:
    """Judge every cell of the rows that are not identical, column by column, vectorized.

    Args:
        fields: the compared fields, in the order of the values in ``pairs``.
        keys: the row keys to judge, in the order the result lists them.
        pairs: row key -> (expected values, actual values), as ``classify`` gives them.

    Returns:
        The cells and their verdicts (``Cells``).
    """
    import pandas as pd

    columns = [f.column for f in fields]
    exp = pd.DataFrame([stored(pairs[k][0]) for k in keys], columns=columns, dtype=object)
    act = pd.DataFrame([pairs[k][1] for k in keys], columns=columns, dtype=object)
    equal: dict[str, pd.Series] = {}
    applied: dict[str, pd.Series] = {}
    for fld in fields:
        equal[fld.column], applied[fld.column] = judge(fld, exp[fld.column], act[fld.column])
    return Cells(keys, exp, act, equal, applied)


def _compare_values(
    entity: Entity,
    fields: tuple[Field, ...],
    keys: list[Any],
    pairs: dict[Any, tuple[tuple[Any, ...], tuple[Any, ...]]],
    out: EntityComparison,
) -> int:
    """Findings for the cells that still differ; returns how many rows really differ."""
    if not keys or not fields:
        return 0
    cells = judge_rows(fields, keys, pairs)
    bad_rows: set[int] = set()
    for fld in fields:
        e, a = cells.expected[fld.column], cells.actual[fld.column]
        named = cells.normalizer[fld.column]
        for name, n in named.value_counts().items():
            out.normalizers[str(name)] += int(n)
        for i in named.index[named.notna().to_numpy()]:
            out.unit_normalizers.setdefault(keys[i][0], Counter())[str(named[i])] += 1
        equal = cells.equal[fld.column]
        for i in equal.index[~equal.to_numpy()]:
            bad_rows.add(int(i))
            out.findings.append(
                Finding(
                    kind="value_mismatch",
                    entity=entity.table,
                    key=key_text(keys[i]),
                    field=fld.column,
                    path=entity.source_path(fld),
                    document=entity.document,
                    source_value=shown(fld, e[i]),
                    shadow_value=shown(fld, a[i]),
                    detail=_diff_detail(fld, e[i], a[i]),
                )
            )
    return len(bad_rows)
