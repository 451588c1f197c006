"""Option types and help layout: a bad option is a usage error at parse time, before
anything is written or recorded, and every default shows in ``--help``."""

from __future__ import annotations

import argparse
import os
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, NoReturn

from shadow_audit.errors import UsageError

EXIT_CODES = """\
exit codes:
  0  ok: GREEN, READY, every document valid, nothing to repair
  1  findings: RED, NOT READY, invalid documents, a repair left findings
  2  usage or I/O error: bad option, missing or unreadable file (one line on stderr)
  3  internal error: a bug in shadow-audit (the traceback is printed; please report it)"""


class HelpFormatter(argparse.RawDescriptionHelpFormatter):
    """Keeps the epilog's layout and appends ``(default: X)`` to every option that has one."""

    def _get_help_string(self, action: argparse.Action) -> str | None:
        text = action.help or ""
        if (
            "%(default)" not in text
            and action.option_strings
            and action.default not in (None, False, argparse.SUPPRESS)
        ):
            text += " (default: %(default)s)"
        return text


class CommandParser(argparse.ArgumentParser):
    """A subcommand's parser: an unknown or missing argument is reported with this command's
    usage; a bad value of a known option is one line naming the option and the value."""

    def parse_known_args(  # type: ignore[override]
        self, args: Sequence[str] | None = None, namespace: argparse.Namespace | None = None
    ) -> tuple[argparse.Namespace, list[str]]:
        parsed, extras = super().parse_known_args(args, namespace)
        if extras:
            self.error(f"unrecognized arguments: {' '.join(extras)}")
        return parsed, extras

    def error(self, message: str) -> NoReturn:
        if message.startswith("argument "):  # a bad value: the option is known, say only why
            self.exit(2, f"{self.prog}: error: {message}\n")
        super().error(message)


def positive_int(text: str) -> int:
    """An integer >= 1 (``--keep``, ``--workers``, ``--limit``, ``--projects``)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"{value} is not a whole number >= 1")
    return value


WORKERS_PER_CORE = 4  # more processes than this per core only queue for the same cores


def max_workers() -> int:
    """The most ``--workers`` this machine takes: ``WORKERS_PER_CORE`` per core."""
    return WORKERS_PER_CORE * (os.cpu_count() or 1)


def worker_count(text: str) -> int:
    """A number of worker processes: a whole number from 1 to ``max_workers()``."""
    value = positive_int(text)
    bound = max_workers()
    if value > bound:
        raise argparse.ArgumentTypeError(
            f"{value} is more than {bound} ({WORKERS_PER_CORE} per core, "
            f"{os.cpu_count() or 1} cores here)"
        )
    return value


def iso_time(text: str) -> datetime:
    """An ISO 8601 time, timezone-aware (a time without an offset is UTC)."""
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not an ISO date-time (e.g. 2026-05-01T12:00:00Z)"
        ) from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def format_list(text: str) -> str:
    """A comma-separated list of report formats, each known (the text is kept as given)."""
    from shadow_audit.report import FORMATS

    formats = [f.strip() for f in text.split(",") if f.strip()]
    unknown = [f for f in formats if f not in FORMATS]
    if unknown or not formats:
        raise argparse.ArgumentTypeError(
            f"unknown {', '.join(unknown) or repr(text)} (known: {', '.join(FORMATS)})"
        )
    return text


def file_path(text: str) -> str:
    """A path for a file that may not exist yet, but is not a folder."""
    if not text:
        raise argparse.ArgumentTypeError("empty path")
    if Path(text).is_dir():
        raise argparse.ArgumentTypeError(f"{text} is a folder, not a file")
    return text


def file_in_folder(default: str | None = None) -> Callable[[str], str]:
    """A file that may not exist yet, in a folder that does: a typo in a folder name must
    not make folders. ``default`` (the option's own default) may still make its folder.

    Args:
        default: the option's default path, exempt from the folder check.

    Returns:
        The argparse type.
    """

    def file_in_existing_folder(text: str) -> str:
        text = file_path(text)
        if text != default and (missing := _missing_folder(text)):
            raise argparse.ArgumentTypeError(f"{text}: {missing}")
        return text

    return file_in_existing_folder


def history_folder_exists(history: str, *, out: str, default: str) -> None:
    """``audit --history``'s folder must exist (a typo must not make folders), unless it
    is the default's or the ``--out`` folder the run makes anyway.

    Args:
        history: the ``--history`` path.
        out: the ``--out`` folder.
        default: the option's default path.

    Raises:
        UsageError: its folder does not exist.
    """
    if history == default or Path(history).parent.resolve() == Path(out).resolve():
        return
    if missing := _missing_folder(history):
        raise UsageError(f"--history {history}: {missing}")


def _missing_folder(path: str) -> str | None:
    """Why a file cannot go at ``path`` when its folder is missing (None: it exists)."""
    folder = Path(path).parent
    if folder.is_dir():
        return None
    return f"the folder {folder} does not exist (make it first, or fix the path)"


def folder_path(text: str) -> str:
    """A path for a folder that may not exist yet, but is not a file."""
    if not text:
        raise argparse.ArgumentTypeError("empty path")
    if Path(text).exists() and not Path(text).is_dir():
        raise argparse.ArgumentTypeError(f"{text} is a file, not a folder")
    return text


def add_config(parser: argparse.ArgumentParser, default_name: str, **extra: Any) -> None:
    """The ``--config`` option every command that reads a config has."""
    parser.add_argument(
        "--config",
        type=file_path,
        help=f"TOML config (default: ./{default_name} when present)",
        **extra,
    )
