"""Write the requested report formats into one folder, atomically, never widening permissions."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from pathlib import Path

from shadow_audit.audit.findings import AuditResult
from shadow_audit.errors import UsageError
from shadow_audit.report.json_report import render_json
from shadow_audit.stores.json_store import atomic_write

Renderer = Callable[[AuditResult], str]
FORMATS: dict[str, tuple[str, Renderer]] = {"json": ("report.json", render_json)}


def render(result: AuditResult, fmt: str) -> str:
    if fmt not in FORMATS:
        raise UsageError(f"unknown report format {fmt!r} (known: {', '.join(FORMATS)})")
    return FORMATS[fmt][1](result)


def write_reports(result: AuditResult, out: Path | str, formats: Iterable[str]) -> list[Path]:
    """Render each format and write it under ``out``; returns the paths written."""
    folder = Path(out)
    wanted = list(dict.fromkeys(formats))
    texts = {fmt: render(result, fmt) for fmt in wanted}
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UsageError(f"report folder {folder}: cannot create: {exc.strerror}") from exc
    paths = []
    for fmt, text in texts.items():
        path = folder / FORMATS[fmt][0]
        atomic_write(path, text.encode())
        paths.append(path)
    return paths
