"""``shadow-audit upgrade``: parse, one library call, print."""

from __future__ import annotations

import argparse

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


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register ``upgrade`` on the CLI's subcommands."""
    p = sub.add_parser(
        "upgrade", help="bring legacy manifests and memories to the current shape (dry run)"
    )
    p.add_argument("--source", required=True, help="folder of workspaces (the JSON store)")
    mode = p.add_mutually_exclusive_group()
    mode.add_argument("--dry-run", action="store_true", help="print each diff only (default)")
    mode.add_argument(
        "--execute", action="store_true", help="write through the dual writer (shadow follows)"
    )
    p.add_argument(
        "--assume-timezone",
        metavar="TZ",
        help="zone of naive timestamps: a zoneinfo name (Europe/Berlin) or an offset (+01:00)",
    )
    p.add_argument(
        "--shadow", default=DEFAULT_DB_PATH, help=f"SQLite file (default {DEFAULT_DB_PATH})"
    )
    p.add_argument("--out", default="reports", help="where the before-images go (default reports)")
    p.set_defaults(func=cmd_upgrade)
