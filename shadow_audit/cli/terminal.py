"""What the terminal shows besides results: progress bars and log lines."""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from shadow_audit.text import visible

if TYPE_CHECKING:
    from tqdm import tqdm


class Bars:
    """Progress on a terminal: one bar per phase, with its total and an ETA (tqdm)."""

    def __init__(self, label: str) -> None:
        self.label = label
        self.bar: tqdm[Any] | None = None

    def phase(self, name: str, *, total: int | None, unit: str) -> None:
        from tqdm import tqdm

        self.close()
        desc = name if name == self.label else f"{self.label}: {name}"  # not "backfill: backfill"
        self.bar = tqdm(total=total, desc=desc, unit=f" {unit}", leave=False)

    def __call__(self, n: int, /) -> None:
        if self.bar is None:
            self.phase("working", total=None, unit="unit")
        assert self.bar is not None
        self.bar.update(n)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None


def _quiet(_: int, /) -> None:
    pass


@contextmanager
def progress_bars(label: str, total: int | None = None) -> Iterator[Callable[[int], None]]:
    """Progress bars with totals on stderr when it is a terminal; nothing otherwise."""
    if not sys.stderr.isatty():
        yield _quiet
        return
    bars = Bars(label)
    if total is not None:
        bars.phase(label, total=total, unit="unit")
    try:
        yield bars
    finally:
        bars.close()


class VisibleFormatter(logging.Formatter):
    """Log lines with control characters and ANSI escapes of the message made visible."""

    def format(self, record: logging.LogRecord) -> str:
        shown = logging.makeLogRecord(record.__dict__)
        shown.msg, shown.args = visible(record.getMessage()), None
        return super().format(shown)


def setup_logging() -> None:
    """Library warnings on stderr as ``shadow-audit: LEVEL: message``, data made visible."""
    handler = logging.StreamHandler()
    handler.setFormatter(VisibleFormatter("shadow-audit: %(levelname)s: %(message)s"))
    logging.basicConfig(level=logging.WARNING, handlers=[handler])
