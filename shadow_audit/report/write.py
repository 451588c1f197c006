"""Write the requested formats: one folder per run, a stable latest copy, old runs pruned."""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterable
from pathlib import Path

from shadow_audit.engine.findings import AuditResult
from shadow_audit.errors import UsageError
from shadow_audit.report.context import ReportContext
from shadow_audit.report.html import render_html
from shadow_audit.report.json_report import render_json
from shadow_audit.report.junit import render_junit
from shadow_audit.report.markdown import render_markdown
from shadow_audit.report.prometheus import render_prometheus
from shadow_audit.stores.json_store import atomic_write

Renderer = Callable[[AuditResult, ReportContext | None], str]
FORMATS: dict[str, tuple[str, Renderer]] = {
    "json": ("report.json", render_json),
    "md": ("report.md", render_markdown),
    "html": ("report.html", render_html),
    "junit": ("junit.xml", render_junit),
    "prom": ("shadow_audit.prom", render_prometheus),
}
RUNS = "runs"


def render(result: AuditResult, fmt: str, context: ReportContext | None = None) -> str:
    if fmt not in FORMATS:
        raise UsageError(f"unknown report format {fmt!r} (known: {', '.join(FORMATS)})")
    return FORMATS[fmt][1](result, context)


def _folder(path: Path) -> None:
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UsageError(f"report folder {path}: cannot create: {exc.strerror}") from exc


def write_reports(
    result: AuditResult,
    out: Path | str,
    formats: Iterable[str],
    context: ReportContext | None = None,
    *,
    mode: int | None = None,
) -> list[Path]:
    """Render each format and write it atomically under ``out``; returns the paths."""
    folder = Path(out)
    texts = {fmt: render(result, fmt, context) for fmt in dict.fromkeys(formats)}
    _folder(folder)
    paths = []
    for fmt, text in texts.items():
        path = folder / FORMATS[fmt][0]
        atomic_write(path, text.encode(), mode=mode)
        paths.append(path)
    return paths


def run_folder_name(result: AuditResult, run_id: int | None) -> str:
    stamp = result.finished_at.replace("-", "").replace(":", "").replace(".", "")
    return f"{stamp}-run{run_id}" if run_id is not None else stamp


def publish(
    result: AuditResult,
    out: Path | str,
    formats: Iterable[str],
    context: ReportContext | None = None,
    *,
    keep: int | None = None,
    mode: int | None = None,
) -> tuple[Path, list[Path]]:
    """Reports of this run in ``out/runs/<run>/`` and the same files as the latest in ``out/``.

    With ``keep``, only the newest ``keep`` run folders stay.
    """
    base = Path(out)
    run_dir = base / RUNS / run_folder_name(result, context.run_id if context else None)
    wanted = list(dict.fromkeys(formats))
    paths = write_reports(result, run_dir, wanted, context, mode=mode)
    latest = write_reports(result, base, wanted, context, mode=mode)
    if keep is not None:
        prune(base / RUNS, keep)
    return run_dir, latest + paths


def prune(runs: Path, keep: int) -> list[Path]:
    """Delete all but the newest ``keep`` run folders (names sort by time)."""
    if keep < 1:
        raise UsageError("--keep must be at least 1")
    folders = sorted(p for p in runs.iterdir() if p.is_dir()) if runs.is_dir() else []
    gone = folders[:-keep]
    for folder in gone:
        shutil.rmtree(folder)
    return gone
