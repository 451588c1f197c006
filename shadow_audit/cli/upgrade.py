"""``shadow-audit upgrade``: parse, one library call, print."""

from __future__ import annotations

import argparse

from shadow_audit.cli.options import (
    EXIT_CODES,
    CommandParser,
    HelpFormatter,
    file_path,
    folder_path,
)
from shadow_audit.profiles import DEFAULT_DB_PATH


def cmd_upgrade(args: argparse.Namespace) -> int:
    from shadow_audit.upgrade import render_upgrade, upgrade

    report = upgrade(
        args.source,
        execute=args.execute,
        shadow=args.shadow,
        before_images=args.out,
        assume_timezone=args.assume_timezone,
    )
    for line in render_upgrade(report):
        print(line)
    return report.exit_code


def add_parser(sub: argparse._SubParsersAction[CommandParser]) -> None:
    """Register ``upgrade`` on the CLI's subcommands."""
    about = "bring legacy manifests and memories to the current shape (dry run)"
    p = sub.add_parser(
        "upgrade",
        help=about,
        description=about,
        epilog=EXIT_CODES,
        formatter_class=HelpFormatter,
    )
    p.add_argument("--source", required=True, help="folder of workspaces (the JSON store)")
    mode = p.add_mutually_exclusive_group()
    mode.add_argument("--dry-run", action="store_true", help="print each diff only (the default)")
    mode.add_argument(
        "--execute", action="store_true", help="write through the dual writer (shadow follows)"
    )
    p.add_argument(
        "--assume-timezone",
        metavar="TZ",
        help="zone of naive timestamps: a zoneinfo name (Europe/Berlin) or an offset "
        "(+01:00) (default: none; documents with naive timestamps are refused)",
    )
    p.add_argument("--shadow", type=file_path, default=DEFAULT_DB_PATH, help="SQLite file")
    p.add_argument("--out", type=folder_path, default="reports", help="where the before-images go")
    p.set_defaults(func=cmd_upgrade)
