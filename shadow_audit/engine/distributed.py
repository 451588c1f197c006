"""The Dask engine: the audit's key partitions run as tasks on a dask.distributed cluster.

``pip install 'shadow-audit[dask]'``. Nothing imports dask until a run asks for this
engine. The driver lists the units, has the workers read each unit's document key,
assigns every unit to the partition of its key (``engine.partition``), and runs one
task per partition: its documents against its keys' rows, over a read-only
connection. Every worker must reach the source folder and the database at the same
absolute paths as the driver (one machine, or a shared file system). The results are
small (findings and counts) and merge into one pass's outcome; the re-check and the
ignore rules then run once, in the driver (``engine.run``).
"""

from __future__ import annotations

import glob
import logging
import math
import os
from collections import Counter
from collections.abc import Iterator
from contextlib import closing, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from shadow_audit.engine.findings import EntitySummary, Finding
from shadow_audit.engine.load import ShadowRows
from shadow_audit.engine.partition import (
    KeyPartition,
    PartitionResult,
    PartitionTask,
    audit_partition,
    merge_partitions,
    partition_of,
    unit_keys_task,
)
from shadow_audit.engine.source import SourceRows
from shadow_audit.errors import ShadowAuditError, SourceError, UsageError
from shadow_audit.progress import Progress, begin_phase
from shadow_audit.stores.sqlite_shadow import connect_readonly

if TYPE_CHECKING:
    from distributed import Client

    from shadow_audit.config import Config
    from shadow_audit.mapping import DocumentMap
    from shadow_audit.stores.files import FilePolicy

log = logging.getLogger(__name__)

INSTALL = "pip install 'shadow-audit[dask]'"
UNITS_PER_PARTITION = 25_000  # a partition's rows stay well inside a worker's memory
MAX_ROUNDS = 3  # re-runs for units whose key changed while the audit ran


class EngineError(ShadowAuditError):
    """The Dask engine cannot run: dask is not installed, or the scheduler is unreachable."""


@dataclass(frozen=True)
class DaskEngine:
    """How to run the audit on Dask.

    Attributes:
        scheduler: the address of a running scheduler (``tcp://host:8786``); None starts a
            ``LocalCluster`` of processes on this machine for the run.
        partitions: key partitions, one task each (default: at least one per worker
            thread, and one per 25,000 units).
        workers: the local cluster's worker processes, one thread each (default: the
            cores); ignored with ``scheduler``.
        timeout: seconds to wait for the scheduler before giving up.
    """

    scheduler: str | None = None
    partitions: int | None = None
    workers: int | None = None
    timeout: float = 10.0

    def __post_init__(self) -> None:
        for name in ("partitions", "workers"):
            value = getattr(self, name)
            if value is not None and (isinstance(value, bool) or value < 1):
                raise UsageError(f"dask engine: {name} must be a whole number >= 1, not {value}")
        if self.scheduler is not None and not self.scheduler.strip():
            raise UsageError("dask engine: the scheduler address is empty")
        if not self.timeout > 0:
            raise UsageError(f"dask engine: timeout must be > 0 seconds, not {self.timeout}")


def run_partitions(
    source: Path | str,
    shadow: Path | str,
    config: Config,
    *,
    engine: DaskEngine,
    files: FilePolicy | None = None,
    progress: Progress | None = None,
) -> tuple[list[Finding], dict[str, EntitySummary], Counter[str], SourceRows, ShadowRows]:
    """One pass over both stores, partition by partition on Dask, merged.

    Args:
        source: the folder of documents.
        shadow: the SQLite file (read-only).
        config: the mapping and whether to validate.
        engine: the cluster and the number of partitions.
        files: the file policy.
        progress: ticked once per finished partition.

    Returns:
        What ``engine.run`` gets from a single pass: findings, summary per table,
        normalizer counts, the source side (units, unmapped paths, documents) and the
        shadow side (fields, what the database lacks); no rows.

    Raises:
        EngineError: dask is not installed, or the scheduler cannot be reached.
        SourceError: the source folder cannot be read.
        DatabaseError: the database is missing or not SQLite.
    """
    distributed = _import_distributed()
    root = os.path.abspath(source)
    db = os.path.abspath(shadow)
    if not os.path.isdir(root):
        raise SourceError(f"source folder {source}: not a readable folder")
    with closing(connect_readonly(db)):  # a missing or corrupt database: one line, now
        pass
    mapping = config.mapping
    primaries = sorted(glob.glob(glob.escape(root) + os.sep + mapping.primary.pattern))
    with _client(engine) as client:
        threads = max(1, sum(client.nthreads().values()))
        count = engine.partitions or max(threads, math.ceil(len(primaries) / UNITS_PER_PARTITION))
        assigned = _assign(client, primaries, count, mapping=mapping, root=root, files=files)
        tick = begin_phase(progress, "auditing partitions", total=count, unit="partition")
        results: dict[int, PartitionResult] = {}
        pending = set(range(count))
        for _ in range(MAX_ROUNDS):
            futures = {
                client.submit(
                    audit_partition,
                    PartitionTask(
                        source=root, shadow=db, mapping=mapping,
                        part=KeyPartition(i, count), primaries=tuple(sorted(assigned[i])),
                        validate=config.validate, files=files,
                    ),
                    pure=False,
                ): i
                for i in sorted(pending)
            }  # fmt: skip
            for future in distributed.as_completed(futures, loop=client.loop):
                results[futures[future]] = future.result()
                if tick and len(results) <= count:
                    tick(1)
            pending = _reassign(results, assigned, count)
            if not pending:
                break
        else:
            log.warning("units kept changing their keys during the audit: %s", sorted(pending))
    return merge_partitions([results[i] for i in range(count)])


def _assign(
    client: Client,
    primaries: list[str],
    count: int,
    *,
    mapping: DocumentMap,
    root: str,
    files: FilePolicy | None,
) -> dict[int, list[str]]:
    """Each unit in the partition of its document key, read by the workers (a unit's
    key is in its document, not in its folder's name); one partition needs no keys."""
    if count == 1:
        return {0: list(primaries)}
    threads = max(1, sum(client.nthreads().values()))
    chunk = max(1, math.ceil(len(primaries) / (threads * 2)))
    chunks = [primaries[i : i + chunk] for i in range(0, len(primaries), chunk)]
    found = client.gather(
        client.map(unit_keys_task, chunks, mapping=mapping, root=root, files=files, pure=False)
    )
    assigned: dict[int, list[str]] = {i: [] for i in range(count)}
    for part_keys, part_paths in zip(found, chunks, strict=True):
        for path, key in zip(part_paths, part_keys, strict=True):
            assigned[partition_of(key, count)].append(path)
    return assigned


def _reassign(
    results: dict[int, PartitionResult], assigned: dict[int, list[str]], count: int
) -> set[int]:
    """Units whose key moved to another partition since it was read: add them there;
    the partitions to run again."""
    again: set[int] = set()
    for i, result in results.items():
        for path, key in result.moved:
            target = partition_of(key, count)
            assigned[i] = [p for p in assigned[i] if p != path]
            if path not in assigned[target]:
                assigned[target].append(path)
                again.add(target)
        result.moved = []
    return again


def _import_distributed() -> Any:
    """``distributed``, or one line saying how to install it."""
    try:
        import distributed
    except ImportError as exc:
        raise EngineError(
            f"the dask engine needs dask.distributed, which is not installed: {INSTALL}"
        ) from exc
    return distributed


@contextmanager
def _client(engine: DaskEngine) -> Iterator[Client]:
    """A client of the engine's scheduler, or of a local cluster made for this run."""
    import distributed

    if engine.scheduler is not None:
        try:
            client = distributed.Client(
                engine.scheduler, timeout=engine.timeout, set_as_default=False
            )
        except (OSError, TimeoutError, ValueError) as exc:
            raise EngineError(
                f"dask scheduler {engine.scheduler}: cannot connect within "
                f"{engine.timeout:g}s ({type(exc).__name__}: {exc})".splitlines()[0]
            ) from exc
        with client:
            yield client
        return
    cluster = distributed.LocalCluster(
        n_workers=engine.workers or os.cpu_count() or 1,
        threads_per_worker=1,
        processes=True,
        dashboard_address=":0",  # any free port: none is fixed, none clashes
        silence_logs=logging.ERROR,
    )
    with cluster, distributed.Client(cluster, set_as_default=False) as client:
        yield client
