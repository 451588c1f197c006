"""Write the requested formats: one folder per run, a stable latest copy, old runs pruned."""

from __future__ import annotations

import contextlib
import logging
import os
import re
import shutil
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from shadow_audit.engine.findings import AuditResult
from shadow_audit.errors import UsageError
from shadow_audit.report.context import ReportContext
from shadow_audit.report.html import render_html
from shadow_audit.report.json_report import (
    FINDINGS_FILE,
    needs_findings_file,
    render_findings_file,
    render_json,
)
from shadow_audit.report.junit import render_junit
from shadow_audit.report.markdown import render_markdown
from shadow_audit.report.prometheus import render_prometheus
from shadow_audit.stores.json_store import atomic_write, fsync_dir

log = logging.getLogger(__name__)

Renderer = Callable[[AuditResult, ReportContext | None], str]
FORMATS: dict[str, tuple[str, Renderer]] = {
    "json": ("report.json", render_json),
    "md": ("report.md", render_markdown),
    "html": ("report.html", render_html),
    "junit": ("junit.xml", render_junit),
    "prom": ("shadow_audit.prom", render_prometheus),
}
RUNS = "runs"
# <finished_at without separators>[-run<id>], e.g. 20260102T030406123456Z-run3
_RUN_FOLDER = re.compile(r"\d{8}T\d{6,}Z(-run\d+)?")


@dataclass(frozen=True)
class Published:
    """The files one run's reports went to."""

    run_dir: Path
    files: tuple[Path, ...]  # in run_dir
    latest: tuple[Path, ...]  # the same names in the report folder
    pruned: tuple[Path, ...] = ()


def render(result: AuditResult, fmt: str, context: ReportContext | None = None) -> str:
    """One format as text.

    Args:
        result: the audit.
        fmt: a key of ``FORMATS`` (json, md, html, junit, prom).
        context: history and limits for the renderer.

    Returns:
        The rendered text.

    Raises:
        UsageError: the format is unknown.
    """
    if fmt not in FORMATS:
        raise UsageError(f"unknown report format {fmt!r} (known: {', '.join(FORMATS)})")
    return FORMATS[fmt][1](result, context)


def folder_mode(file_mode: int) -> int:
    """A folder's permission bits for files of ``file_mode``: search where reading is allowed.

    Args:
        file_mode: permission bits of the files the folder holds (e.g. 0o640).

    Returns:
        The folder's bits (e.g. 0o750).
    """
    return file_mode | ((file_mode & 0o444) >> 2)


def make_folder(path: Path, *, mode: int | None = None) -> list[Path]:
    """Create ``path`` and its missing parents with ``mode``; returns those created, top first.

    Args:
        path: the folder.
        mode: permission bits for the folders created (existing ones are left alone).

    Returns:
        The folders this call created, outermost first.

    Raises:
        UsageError: a folder cannot be created.
    """
    missing = [p for p in (path, *path.parents) if not p.exists()][::-1]
    try:
        for folder in missing:
            folder.mkdir(exist_ok=True)
            if mode is not None:
                os.chmod(folder, mode)
    except OSError as exc:
        raise UsageError(f"report folder {path}: cannot create: {exc.strerror}") from exc
    if not path.is_dir():
        raise UsageError(f"report folder {path}: not a folder")
    return missing


def write_reports(
    result: AuditResult,
    out: Path | str,
    formats: Iterable[str],
    context: ReportContext | None = None,
    *,
    mode: int | None = None,
) -> list[Path]:
    """Render each format and write it atomically under ``out``; returns the paths.

    With ``json``, findings.jsonl.gz is written beside report.json when report.json
    cannot list every finding.

    Args:
        result: the audit.
        out: the folder (created when missing).
        formats: keys of ``FORMATS``.
        context: history and limits.
        mode: permission bits for the files (and folders created).

    Returns:
        The files written, in the order of ``formats`` (the findings file last).
    """
    folder = Path(out)
    texts = {fmt: render(result, fmt, context) for fmt in dict.fromkeys(formats)}
    make_folder(folder, mode=None if mode is None else folder_mode(mode))
    paths = []
    for fmt, text in texts.items():
        path = folder / FORMATS[fmt][0]
        atomic_write(path, text.encode(), mode=mode)
        paths.append(path)
    if "json" in texts and needs_findings_file(result, context):
        path = folder / FINDINGS_FILE
        atomic_write(path, render_findings_file(result), mode=mode)
        paths.append(path)
    return paths


def run_folder_name(result: AuditResult, run_id: int | None) -> str:
    """The run folder's name: ``<finished_at without separators>-run<id>``; names sort by time.

    Args:
        result: the audit.
        run_id: its id in the history, or None when it is not recorded.

    Returns:
        E.g. ``20260102T030406123456Z-run3`` (without ``-run<id>`` when ``run_id`` is None).
    """
    stamp = result.finished_at.replace("-", "").replace(":", "").replace(".", "")
    return f"{stamp}-run{run_id}" if run_id is not None else stamp


def _link_latest(source: Path, target: Path, mode: int | None) -> None:
    """``target`` becomes the same file as ``source`` (a hard link, else a copy), atomically."""
    tmp = target.with_name(f".{target.name}.{os.getpid()}.latest")
    with contextlib.suppress(FileNotFoundError):
        tmp.unlink()
    try:
        os.link(source, tmp)
        os.replace(tmp, target)
    except OSError:
        with contextlib.suppress(OSError):
            tmp.unlink()
        atomic_write(target, source.read_bytes(), mode=mode)
        return
    fsync_dir(target.parent)


def publish(
    result: AuditResult,
    out: Path | str,
    formats: Iterable[str],
    context: ReportContext | None = None,
    *,
    keep: int | None = None,
    mode: int | None = None,
) -> Published:
    """Reports of this run in ``out/runs/<run>/`` and the same files as the latest in ``out/``.

    The latest files are hard links to the run's (a copy where the file system has
    none), so they cost no extra space. With ``keep``, only the newest ``keep`` run
    folders stay.

    Args:
        result: the audit.
        out: the report folder.
        formats: keys of ``FORMATS``.
        context: history and limits.
        keep: how many run folders to keep (at least 1); ``None`` keeps all.
        mode: permission bits for files (folders get the matching search bits).

    Returns:
        Where everything went.

    Raises:
        UsageError: ``keep`` below 1, an unknown format, or a folder that cannot be made.
    """
    if keep is not None and keep < 1:
        raise UsageError(f"--keep must be at least 1 (got {keep})")
    base = Path(out)
    run_dir = base / RUNS / run_folder_name(result, context.run_id if context else None)
    dir_mode = None if mode is None else folder_mode(mode)
    make_folder(base / RUNS, mode=dir_mode)
    files = write_reports(result, run_dir, formats, context, mode=mode)
    latest = []
    for path in files:
        target = base / path.name
        _link_latest(path, target, mode)
        latest.append(target)
    # A latest copy this run did not write belongs to an older run and would contradict this
    # one (a GREEN report.html beside a RED report.json): the latest folder is one run's.
    written = {path.name for path in files}
    for name in (*(name for name, _ in FORMATS.values()), FINDINGS_FILE):
        if name not in written:
            with contextlib.suppress(FileNotFoundError):
                (base / name).unlink()
    pruned = prune(base / RUNS, keep) if keep is not None else []
    return Published(run_dir, tuple(files), tuple(latest), tuple(pruned))


def prune(runs: Path, keep: int) -> list[Path]:
    """Delete all but the newest ``keep`` run folders (names sort by time).

    Only real folders named like a run are counted and deleted: a symlink, a file
    or a folder of another name in ``runs`` is left alone, and a folder that cannot
    be deleted is logged and skipped.

    Args:
        runs: the ``runs`` folder.
        keep: how many to keep (at least 1).

    Returns:
        The folders deleted.

    Raises:
        UsageError: ``keep`` below 1.
    """
    if keep < 1:
        raise UsageError(f"--keep must be at least 1 (got {keep})")
    folders = (
        sorted(
            p
            for p in runs.iterdir()
            if _RUN_FOLDER.fullmatch(p.name) and not p.is_symlink() and p.is_dir()
        )
        if runs.is_dir()
        else []
    )
    gone = []
    for folder in folders[:-keep]:
        try:
            shutil.rmtree(folder)
        except OSError as exc:
            log.warning("cannot prune %s: %s", folder, exc.strerror or exc)
            continue
        gone.append(folder)
    return gone
