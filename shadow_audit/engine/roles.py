"""Which store is the truth, and the findings seen from it.

From ``sqlite-primary`` on, SQLite is the truth and the JSON files are the copy. The audit
compares the same rows the same way; only the roles swap: ``missing_in_shadow`` then
means a row the truth (SQLite) has and the copy (JSON) lacks, ``extra_in_shadow`` a row
only the copy has, and ``source_value`` is the truth's value.
"""

from __future__ import annotations

import dataclasses
from contextlib import closing
from pathlib import Path
from typing import Any, Literal

from shadow_audit.engine.findings import EntitySummary, Finding
from shadow_audit.errors import DatabaseError
from shadow_audit.stores.phases import SQLITE_TRUTH, read_phase
from shadow_audit.stores.sqlite_shadow import connect_readonly

Truth = Literal["json", "sqlite"]
_KINDS = {"missing_in_shadow": "extra_in_shadow", "extra_in_shadow": "missing_in_shadow"}
_DIFF_KEYS = {
    "old_value": "new_value",
    "old_type": "new_type",
    "iterable_item_added": "iterable_item_removed",
    "dictionary_item_added": "dictionary_item_removed",
    "set_item_added": "set_item_removed",
    "attribute_added": "attribute_removed",
}
_DIFF_KEYS |= {v: k for k, v in _DIFF_KEYS.items()}


def truth_of(shadow: Path | str) -> Truth:
    """``sqlite`` when the database's phase makes SQLite the truth, else ``json``.

    Args:
        shadow: the SQLite file (read-only; a missing or unreadable file says ``json``,
            and the audit reports it where it reads the tables).

    Returns:
        The store that is the truth.
    """
    try:
        with closing(connect_readonly(shadow)) as conn:
            return "sqlite" if read_phase(conn) in SQLITE_TRUTH else "json"
    except DatabaseError:
        return "json"


def _swap_detail(detail: Any) -> Any:
    if isinstance(detail, dict):
        return {_DIFF_KEYS.get(k, k): _swap_detail(v) for k, v in detail.items()}
    if isinstance(detail, list):
        return [_swap_detail(v) for v in detail]
    return detail


def swap_roles(
    findings: list[Finding], summary: dict[str, EntitySummary]
) -> tuple[list[Finding], dict[str, EntitySummary]]:
    """Findings and counts computed with JSON as the truth, restated with SQLite as the truth.

    Args:
        findings: findings with JSON as the truth.
        summary: per-table counts with JSON as the truth.

    Returns:
        The same findings and counts, roles swapped (same order).
    """
    swapped = [
        dataclasses.replace(
            f,
            kind=_KINDS.get(f.kind, f.kind),
            source_value=f.shadow_value,
            shadow_value=f.source_value,
            detail=_swap_detail(f.detail) if f.kind == "value_mismatch" else f.detail,
        )
        for f in findings
    ]
    counts = {
        name: dataclasses.replace(
            s,
            source_rows=s.shadow_rows,
            shadow_rows=s.source_rows,
            missing_in_shadow=s.extra_in_shadow,
            extra_in_shadow=s.missing_in_shadow,
        )
        for name, s in summary.items()
    }
    return swapped, counts
