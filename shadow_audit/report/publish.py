"""publish_run: one scheduled audit, from the --out lock to the pruned run folders.

The workflow the ``audit`` command runs, as one library call: check the options,
take the report folder's lock (a second run on the same folder is skipped, not
queued), audit, append to the history, write the formats into
``runs/<time>-run<id>/`` with the latest copy beside them, and prune old runs. Bad
options are rejected before anything is written or recorded, and a run that fails
leaves no report folder behind that it created.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from shadow_audit.config import Config, load_config
from shadow_audit.engine.findings import AuditResult
from shadow_audit.engine.incremental import DEFAULT_FULL_EVERY, STATE_NAME, check_full_every
from shadow_audit.errors import SourceError, UsageError
from shadow_audit.report.context import JSON_FINDINGS, MAX_FINDINGS, ReportContext
from shadow_audit.report.history import DEFAULT_HISTORY, Delta, History
from shadow_audit.report.write import FORMATS, Published, folder_mode, make_folder, publish
from shadow_audit.stores.files import FilePolicy
from shadow_audit.stores.json_store import no_wider_than

if TYPE_CHECKING:
    from shadow_audit.engine.distributed import DaskEngine

Progress = Callable[[int], None]
LOCK_NAME = ".shadow-audit.lock"
TREND_RUNS = 30


@dataclass(frozen=True)
class PublishedRun:
    """What one ``publish_run`` did; ``skipped`` says why nothing was done, if so."""

    out: Path
    result: AuditResult | None = None
    run_id: int | None = None
    delta: Delta | None = None
    published: Published | None = None
    skipped: str | None = None

    @property
    def exit_code(self) -> int:
        """0 GREEN (or skipped), 1 RED: the CLI's exit code for this run."""
        return 1 if self.result is not None and self.result.status == "RED" else 0


def check_options(
    formats: Iterable[str], *, keep: int | None = None, max_findings: int = MAX_FINDINGS
) -> list[str]:
    """Reject bad report options before anything is written; returns the formats to write.

    Args:
        formats: format names (``json`` is always added first).
        keep: run folders to keep, at least 1, or None for all.
        max_findings: entries shown in Markdown and HTML, at least 1.

    Returns:
        ``json`` and the other formats, each once, in the order given.

    Raises:
        UsageError: an unknown format, ``keep`` or ``max_findings`` below 1.
    """
    wanted = list(dict.fromkeys(["json", *(f.strip() for f in formats if f.strip())]))
    unknown = [f for f in wanted if f not in FORMATS]
    if unknown:
        raise UsageError(f"--format: unknown {', '.join(unknown)} (known: {', '.join(FORMATS)})")
    if keep is not None and keep < 1:
        raise UsageError(f"--keep must be at least 1 (got {keep})")
    if max_findings < 1:
        raise UsageError(f"--max-findings must be at least 1 (got {max_findings})")
    return wanted


def publish_run(
    source: Path | str,
    shadow: Path | str,
    *,
    out: Path | str,
    formats: Iterable[str] = ("json",),
    config: Config | Path | str | None = None,
    history: Path | str | None = DEFAULT_HISTORY,
    keep: int | None = None,
    max_findings: int = MAX_FINDINGS,
    json_findings: int = JSON_FINDINGS,
    workers: int | None = None,
    progress: Progress | None = None,
    settle: float | None = None,
    files: FilePolicy | None = None,
    engine: str | DaskEngine = "local",
    incremental: bool = False,
    full_every: float = DEFAULT_FULL_EVERY,
) -> PublishedRun:
    """Audit ``source`` against ``shadow`` and publish the run's reports under ``out``.

    Files and folders get no wider permissions than the source folder. When another
    run holds ``out``'s lock this one does nothing and says so in ``skipped``.

    Args:
        source: the folder of documents (the truth).
        shadow: the SQLite file (opened read-only).
        out: the report folder: the latest reports, ``runs/<run>/``, the lock.
        formats: report formats besides ``json`` (json, md, html, junit, prom).
        config: a Config, a TOML path, or None for the built-in profile.
        history: the history database to append to, or None to record nothing.
        keep: keep only the newest ``keep`` run folders; None keeps all.
        max_findings: entries shown in Markdown and HTML (the rest are counted).
        json_findings: findings listed in report.json; above it, every finding goes to
            findings.jsonl.gz beside it.
        workers: passed to ``audit``.
        progress: called with the number of documents read, as they are read.
        settle: passed to ``audit`` (default: the config's ``[audit] settle``, else 5 s:
            a scheduled run waits out writers that skip the lock).
        files: which source files may be opened (size cap, symlinks); passed to ``audit``.
        engine: passed to ``audit`` (``"local"``, ``"dask"`` or a ``DaskEngine``).
        incremental: re-read only what changed since the last run on ``out``; the state is
            kept in ``out/.shadow-audit-state.db`` (``audit(incremental=True)``).
        full_every: with ``incremental``, audit in full when the last full audit is this
            many hours old.

    Returns:
        The result, run id, delta and files, or why the run was skipped.

    Raises:
        UsageError: a bad option (nothing written), or a folder that cannot be made.
        ShadowAuditError: from loading the config or from the audit (the folder this
            call created is removed again).
    """
    from filelock import FileLock, Timeout

    from shadow_audit.engine.recheck import DEFAULT_SETTLE
    from shadow_audit.engine.run import audit  # pandas and deepdiff: only when auditing

    wanted = check_options(formats, keep=keep, max_findings=max_findings)
    full_every = check_full_every(full_every)
    if json_findings < 1:
        raise UsageError(f"json_findings must be at least 1 (got {json_findings})")
    cfg = config if isinstance(config, Config) else load_config(config)
    if not Path(source).is_dir():
        raise SourceError(f"source folder {source}: not a readable folder")
    mode = no_wider_than(source)
    base = Path(out)
    created = make_folder(base, mode=folder_mode(mode))
    lock = FileLock(str(base / LOCK_NAME), mode=0o600)
    try:
        lock.acquire(timeout=0)
    except Timeout:
        return PublishedRun(
            out=base,
            skipped=f"another audit is writing to {base} (lock {lock.lock_file}); "
            "this run is skipped",
        )
    try:
        if settle is None:
            settle = DEFAULT_SETTLE if cfg.settle is None else cfg.settle
        result = audit(
            source, shadow, config=cfg, progress=progress, workers=workers, files=files,
            settle=settle, engine=engine, incremental=incremental, state=base / STATE_NAME,
            full_every=full_every,
        )  # fmt: skip
        context = ReportContext(max_findings=max_findings, json_findings=json_findings)
        run_id, delta = None, None
        if history is not None:
            book = History(history, mode=mode)
            run_id, delta = book.record(result, report_dir=str(base))
            trend = tuple(reversed(book.runs(limit=TREND_RUNS)))
            context = dataclasses.replace(context, run_id=run_id, delta=delta, trend=trend)
    except BaseException:
        lock.release()
        _remove_created(created, base / LOCK_NAME)
        raise
    try:
        published = publish(result, base, wanted, context, keep=keep, mode=mode)
    finally:
        lock.release()
    return PublishedRun(base, result, run_id, delta, published)


def _remove_created(created: list[Path], lock_file: Path) -> None:
    """Undo ``make_folder``: remove the lock file and the folders, if nothing else is there."""
    if not created:
        return
    with contextlib.suppress(OSError):
        lock_file.unlink()
    for folder in reversed(created):
        with contextlib.suppress(OSError):
            os.rmdir(folder)
