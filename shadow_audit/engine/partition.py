"""Key partitions: which part of the store a document key belongs to, on both sides.

A key's partition is a stable hash of the key (blake2b, the same in every process and
on every machine, unlike Python's ``hash()``), so the documents of a key and the rows of
that key always meet in the same partition. ``audit_partition`` audits one partition
with the engine's own functions (``SourceScan``, ``load_shadow``, the comparison) and
returns only small results; ``merge_partitions`` joins them into what one pass over the
whole store gives. Nothing here imports dask: ``engine.distributed`` runs these
functions on a cluster.
"""

from __future__ import annotations

import sqlite3
from collections import Counter
from dataclasses import dataclass, field, fields
from hashlib import blake2b
from typing import Any

from shadow_audit.engine.findings import EntitySummary, Finding
from shadow_audit.engine.load import ShadowRows
from shadow_audit.engine.source import SourceRows
from shadow_audit.mapping import DocumentMap
from shadow_audit.stores.files import FilePolicy

SQL_FUNCTION = "sa_part"  # the partition of a key, registered on each read connection


def partition_of(key: Any, count: int) -> int:
    """The partition (0 .. count - 1) of a document key, the same in every process.

    Values that are equal as Python keys land in the same partition (``5`` and ``5.0``;
    SQLite's NULL and Python's None).

    Args:
        key: the document key, as a document names it or a database column holds it.
        count: the number of partitions.

    Returns:
        The partition index.
    """
    if count == 1:
        return 0
    if key is None:
        data = b"0"
    elif isinstance(key, bytes):
        data = b"b" + key
    elif isinstance(key, bool | int | float):
        number = int(key) if isinstance(key, bool) or float(key).is_integer() else key
        data = b"n" + repr(number).encode()
    else:
        data = b"s" + str(key).encode("utf-8", "surrogatepass")
    return int.from_bytes(blake2b(data, digest_size=8).digest(), "big") % count


@dataclass(frozen=True)
class KeyPartition:
    """Partition ``index`` of ``count``: the keys whose stable hash falls in it."""

    index: int
    count: int

    def __post_init__(self) -> None:
        if not 0 <= self.index < self.count:
            raise ValueError(f"partition {self.index} of {self.count}")

    def owns(self, key: Any) -> bool:
        """Does this partition hold ``key``?

        Args:
            key: a document key.

        Returns:
            True when the key's partition is this one.
        """
        return partition_of(key, self.count) == self.index

    def register(self, conn: sqlite3.Connection) -> None:
        """Give ``conn`` the SQL function ``sa_part(key)``: the partition of a key.

        Args:
            conn: a connection that will filter rows by partition.
        """
        count = self.count
        conn.create_function(
            SQL_FUNCTION, 1, lambda key: partition_of(key, count), deterministic=True
        )


@dataclass(frozen=True)
class PartitionTask:
    """Everything one partition's audit needs; small and picklable, sent to a worker."""

    source: str
    shadow: str
    mapping: DocumentMap
    part: KeyPartition
    primaries: tuple[str, ...]  # the units whose document key this partition owns
    validate: bool = True
    files: FilePolicy | None = None


@dataclass
class PartitionResult:
    """One partition's outcome: findings, counts, coverage, and the units it did not own."""

    findings: list[Finding]
    summary: dict[str, EntitySummary]
    normalizers: Counter[str]
    expected: SourceRows  # units, unmapped paths, documents (the rows are gone)
    actual: ShadowRows  # fields, missing columns and tables, the map (the rows are gone)
    moved: list[tuple[str, Any]] = field(default_factory=list)  # (primary, key elsewhere)


def unit_keys_task(
    primaries: list[str], mapping: DocumentMap, root: str, files: FilePolicy | None
) -> list[Any]:
    """Worker: the document key of each unit, as the audit will see it.

    Args:
        primaries: the units' primary documents.
        mapping: the map.
        root: the source folder.
        files: the file policy.

    Returns:
        One key per primary, in order.
    """
    from shadow_audit.engine.source import unit_keys

    return unit_keys(primaries, mapping, root=root, files=files)


def audit_partition(task: PartitionTask) -> PartitionResult:
    """Worker: audit one key partition, exactly as the whole-store audit treats its keys.

    The source documents of ``task.primaries`` whose key the partition owns are read,
    validated and compared as they stream past the partition's rows (read-only). A unit
    whose key has moved to another partition since the keys were found is left out and
    named in ``moved``.

    Args:
        task: the partition and its units.

    Returns:
        The partition's findings and counts; no rows.

    Raises:
        SourceError: the source folder cannot be read.
        DatabaseError: the database is missing or not SQLite.
    """
    from shadow_audit.engine.load import gc_paused, load_shadow
    from shadow_audit.engine.run import _compare_all
    from shadow_audit.engine.source import SourceScan

    with gc_paused():
        with SourceScan(
            task.source,
            task.mapping,
            validate=task.validate,
            workers=1,  # the cluster is the parallelism; a worker may not fork a pool
            files=task.files,
            primaries=list(task.primaries),
            keep=task.part.owns,
        ) as scan:
            actual = load_shadow(task.shadow, task.mapping, part=task.part)
            mapping = actual.mapping or task.mapping
            expected = scan.load(actual.fields, against=actual, mapping=mapping)
        findings, summary, normalizers = _compare_all(mapping, expected, actual)
    moved = expected.moved
    expected.rows, expected.classified, expected.excluded = {}, {}, {}
    expected.problems, expected.moved = [], []
    actual.rows, actual.excluded, actual.duplicates = {}, {}, []
    return PartitionResult(findings, summary, normalizers, expected, actual, moved)


def merge_partitions(
    results: list[PartitionResult],
) -> tuple[list[Finding], dict[str, EntitySummary], Counter[str], SourceRows, ShadowRows]:
    """Join the partitions' results into what one pass over the whole store gives.

    Args:
        results: one result per partition (at least one).

    Returns:
        (findings in the single pass's order, summary per table, normalizer counts,
        the source side's units / unmapped paths / documents, the shadow side's fields
        and what the database lacks).
    """
    from shadow_audit.engine.run import _order

    findings = [f for r in results for f in r.findings]
    findings.sort(key=_order)
    summary: dict[str, EntitySummary] = {}
    normalizers: Counter[str] = Counter()
    expected = SourceRows()
    unmapped: Counter[tuple[str, str]] = Counter()
    for r in results:
        for table, part in r.summary.items():
            summary[table] = _add(summary.get(table), part)
        normalizers.update(r.normalizers)
        expected.documents += r.expected.documents
        expected.units.update(r.expected.units)
        unmapped.update(r.expected.unmapped)
    expected.unmapped = dict(unmapped)
    return findings, summary, normalizers, expected, results[0].actual


def _add(total: EntitySummary | None, part: EntitySummary) -> EntitySummary:
    """Two partitions' counts of one table, added (the compared columns are the same)."""
    if total is None:
        return part
    counts = {
        f.name: getattr(total, f.name) + getattr(part, f.name)
        for f in fields(EntitySummary)
        if f.name not in ("entity", "compared_columns")
    }
    return EntitySummary(entity=part.entity, compared_columns=part.compared_columns, **counts)
