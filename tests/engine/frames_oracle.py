"""The materialized compare, kept as an oracle for the audit's engine (tests only).

Both stores as DataFrames, key sets and column equality vectorized; only the rows
that differ leave pandas, for the engine's normalizers and diff. The audit never
runs this: a test holds it equal to ``compare_entity`` over row dicts.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from shadow_audit.engine.compare import Classified, EntityComparison, findings_for
from shadow_audit.mapping import Entity, Field


def classify_frames(
    expected: pd.DataFrame, actual: pd.DataFrame, keys: list[str], columns: list[str]
) -> Classified:
    """``classify`` for rows already in DataFrames: key sets and column equality, vectorized;
    only the rows that differ leave pandas (for normalizers and deepdiff)."""
    e, a = expected.set_index(keys), actual.set_index(keys)

    def key(label: Any) -> tuple[Any, ...]:
        return label if isinstance(label, tuple) else (label,)

    def rows(frame: pd.DataFrame) -> dict[Any, tuple[Any, ...]]:
        values = frame[columns].astype(object).where(frame[columns].notna(), None)
        return {
            key(k): tuple(v)
            for k, v in zip(values.index, values.itertuples(index=False, name=None), strict=True)
        }

    out = Classified(source_rows=len(e), shadow_rows=len(a))
    common = e.index.intersection(a.index)
    out.missing = rows(e.loc[e.index.difference(a.index)])
    out.extra = rows(a.loc[a.index.difference(e.index)])
    ec, ac = e.loc[common], a.loc[common]
    differs = np.zeros(len(common), dtype=bool)
    for c in columns:
        x, y = ec[c], ac[c]
        same = (x == y).fillna(False).to_numpy(dtype=bool) | (
            x.isna().to_numpy() & y.isna().to_numpy()
        )
        differs |= ~same
    if differs.any():
        exp_rows, act_rows = rows(ec[differs]), rows(ac[differs])
        out.differing = {k: (v, act_rows[k]) for k, v in exp_rows.items()}
    return out


def compare_frames(
    entity: Entity,
    fields: tuple[Field, ...],
    expected: pd.DataFrame,
    actual: pd.DataFrame,
    *,
    keys: list[str],
) -> EntityComparison:
    """``compare_entity`` for DataFrames (one column per key part and per field)."""
    columns = [f.column for f in fields]
    return findings_for(entity, fields, classify_frames(expected, actual, keys, columns))
