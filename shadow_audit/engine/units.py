"""Units compared together: each unit's findings and its share of the summary.

The re-check and the incremental audit both read a set of units (their documents and
their rows) and compare them here, by the same engine as the full pass (``classify``,
``findings_for``), all units at once, table by table.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import Any

from shadow_audit.engine.compare import classify, findings_for
from shadow_audit.engine.findings import EntitySummary, Finding
from shadow_audit.engine.load import ShadowRows
from shadow_audit.engine.source import SourceRows
from shadow_audit.mapping import DocumentMap, Field


@dataclass
class UnitComparison:
    """One unit's share of a comparison: its findings, rows per table, normalizer counts."""

    findings: list[Finding]
    summary: dict[str, EntitySummary]
    normalizers: Counter[str]


def compare_units(
    snaps: dict[str, tuple[SourceRows, ShadowRows]],
    *,
    mapping: DocumentMap,
    fields: dict[str, tuple[Field, ...]],
) -> dict[str, UnitComparison]:
    """Compare units' snapshots by the audit's engine (``classify``, ``findings_for``), all
    units at once, table by table; each unit gets its findings and its summary (a key
    holding '/' is compared alone, so every finding's unit is certain).

    Args:
        snaps: unit key -> (its rows projected from its documents, its rows in the shadow).
        mapping: the map.
        fields: the compared columns per table.

    Returns:
        unit key -> its findings (problems of its documents and rows first), per-table
        summary (rows counted as the full pass counts them) and normalizer counts.
    """
    out = {
        key: UnitComparison([*e.problems, *a.duplicates], {}, Counter())
        for key, (e, a) in snaps.items()
    }
    plain = [key for key in snaps if "/" not in key]
    groups = ([plain] if plain else []) + [[key] for key in snaps if "/" in key]
    for group in groups:
        for entity in mapping.entities:
            table = entity.table
            if table not in fields:
                continue
            expected: dict[Any, tuple[Any, ...]] = {}
            actual: dict[Any, tuple[Any, ...]] = {}
            excluded: set[Any] = set()
            for key in group:
                e, a = snaps[key]
                expected.update(e.rows.get(table, {}))
                actual.update(a.rows.get(table, {}))
                excluded |= e.excluded.get(table, set()) | a.excluded.get(table, set())
            result = findings_for(
                entity, fields[table], classify(expected, actual, excluded=excluded)
            )
            mine: dict[str, list[Finding]] = {key: [] for key in group}
            for f in result.findings:
                mine[group[0] if len(group) == 1 else f.key.split("/", 1)[0]].append(f)
            for key in group:
                e, a = snaps[key]
                out[key].findings += mine[key]
                out[key].normalizers.update(result.unit_normalizers.get(key, {}))
                out[key].summary[table] = _unit_summary(
                    table, fields[table], e.rows.get(table, {}), a.rows.get(table, {}),
                    e.excluded.get(table, set()) | a.excluded.get(table, set()), mine[key],
                )  # fmt: skip
    return out


def _unit_summary(
    table: str,
    fields: tuple[Field, ...],
    expected: dict[Any, Any],
    actual: dict[Any, Any],
    excluded: set[Any],
    findings: list[Finding],
) -> EntitySummary:
    """One unit's rows of a table counted as ``findings_for`` counts a whole table's."""

    def kept(rows: dict[Any, Any]) -> int:
        return sum(1 for k in rows if k[0] not in excluded and k not in excluded)

    src = kept(expected)
    missing = sum(f.kind == "missing_in_shadow" for f in findings)
    mismatched = len({f.key for f in findings if f.kind == "value_mismatch"})
    return EntitySummary(
        entity=table,
        source_rows=src,
        shadow_rows=kept(actual),
        matched=src - missing - mismatched,
        mismatched=mismatched,
        missing_in_shadow=missing,
        extra_in_shadow=sum(f.kind == "extra_in_shadow" for f in findings),
        compared_columns=len(fields),
    )
