"""``shadow-audit cutover status|advance|rollback`` and ``shadow-audit export``.

Each command parses, makes one library call (``shadow_audit.cutover``), prints. Exit codes
as everywhere: 0 moved / ok, 1 the gate is NOT READY, 2 usage or I/O error.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from shadow_audit.cli.options import add_config, file_path, folder_path, iso_time
from shadow_audit.errors import UsageError
from shadow_audit.profiles import DEFAULT_DB_PATH
from shadow_audit.text import natural_key, plural, visible

EXIT_OK, EXIT_FAIL = 0, 1


def _config(raw: str | None) -> Any:
    from shadow_audit.config import load_config

    if raw is None and Path("shadow-audit.toml").is_file():
        raw = "shadow-audit.toml"
    return load_config(raw)


def _now(moment: datetime | None) -> datetime:
    return moment or datetime.now(UTC)


def cmd_status(args: argparse.Namespace) -> int:
    from shadow_audit.cutover import cutover_status

    status = cutover_status(args.shadow)
    print(status.phase)
    for t in status.transitions:
        forced = f" FORCED ({visible(t.reason or '')})" if t.forced else ""
        why = f": {visible(t.reason)}" if t.reason and not t.forced else ""
        print(f"  {t.id:>3}  {t.at}  {t.from_phase} -> {t.to_phase}{forced}{why}")
    if not status.transitions:
        print("  no transitions yet")
    return EXIT_OK


def cmd_advance(args: argparse.Namespace) -> int:
    from shadow_audit.cutover import advance

    outcome = advance(
        args.source,
        args.shadow,
        history=args.history,
        config=_config(args.config),
        force=args.force,
        reason=args.reason,
        now=_now(args.now),
    )
    decision = outcome.decision
    assert decision is not None
    head = "moved" if outcome.moved else "refused"
    print(f"{head}: {outcome.from_phase} -> {outcome.to_phase} (gate {decision.verdict})")
    for r in decision.reasons:
        print(f"  {'pass' if r.passed else 'FAIL'}  {r.check}: {r.message}")
    if outcome.transition is not None and outcome.transition.forced:
        print(f"  forced: {visible(outcome.transition.reason or '')}")
    if not outcome.moved:
        print("not moved; --force --reason TEXT moves anyway, recorded as forced")
    return EXIT_OK if outcome.moved else EXIT_FAIL


def cmd_rollback(args: argparse.Namespace) -> int:
    from shadow_audit.cutover import rollback

    outcome = rollback(
        args.source,
        args.shadow,
        config=_config(args.config),
        reason=args.reason,
        now=_now(args.now),
    )
    print(f"rolled back: {outcome.from_phase} -> {outcome.to_phase}")
    if outcome.exported is not None:
        e = outcome.exported
        print(
            f"  JSON brought up to date from SQLite: {plural(e.keys, 'key')}, "
            f"{plural(e.written, 'file')} written, "
            f"{e.unchanged} already equal"
        )
    return EXIT_OK


def cmd_export(args: argparse.Namespace) -> int:
    from shadow_audit.cutover import export_json

    result = export_json(
        args.shadow, args.out, config=_config(args.config), overwrite=args.overwrite
    )
    print(
        f"export: {plural(result.keys, 'key')} from {args.shadow} into {args.out}: "
        f"{plural(result.written, 'file')} written, {result.unchanged} already equal"
    )
    return EXIT_OK


def sqlite_is_truth(shadow: Path) -> bool:
    """Whether ``repair`` runs in the SQLite-is-truth direction."""
    from shadow_audit.engine.roles import truth_of

    return truth_of(shadow) == "sqlite"


def repair_json_copy(source: Path, shadow: Path, *, config: Any, execute: bool) -> int:
    """``shadow-audit repair`` from sqlite-primary on: the JSON copy is rewritten from SQLite."""
    from shadow_audit.export import repair_json

    result = repair_json(source, shadow, config=config, execute=execute)
    documents = plural(len(result.keys), "document")
    print(f"truth: sqlite; plan: rewrite the JSON of {documents} from SQLite")
    for key in sorted(result.keys, key=natural_key)[:50]:
        print(f"  EXPORT {visible(key)}")
    if len(result.keys) > 50:
        print(f"  ... {len(result.keys) - 50} more")
    for key in sorted(result.not_in_truth, key=natural_key):
        print(f"  left alone (only in JSON, not in the truth): {visible(key)}")
    if not execute:
        print("dry run: nothing changed (pass --execute to apply)")
        return EXIT_FAIL if result.keys or result.not_in_truth else EXIT_OK
    if result.exported is not None:
        print(f"repaired: {plural(result.exported.written, 'JSON file')} rewritten from SQLite")
    after = result.after or result.before
    print(f"re-audit: {after.status}")
    return EXIT_OK if after.status == "GREEN" else EXIT_FAIL


def register(sub: Any, command: Callable[..., Any]) -> None:
    """Add ``cutover`` and ``export`` to the ``shadow-audit`` subcommands.

    Args:
        sub: the top-level subparsers.
        command: the CLI's factory for a subcommand parser (help with defaults, exit codes).
    """
    p = command(sub, "cutover", _no_step, "the cutover phases: status, advance, rollback")
    steps = p.add_subparsers(dest="step", required=True, metavar="STEP")

    s = command(steps, "status", cmd_status, "the phase (first line), then every transition")
    s.add_argument("--shadow", type=file_path, default=DEFAULT_DB_PATH, help="SQLite file")

    s = command(steps, "advance", cmd_advance, "one phase forward when that step's gate is READY")
    s.add_argument("--source", type=folder_path, required=True, help="folder of workspaces")
    s.add_argument("--shadow", type=file_path, required=True, help="SQLite file")
    s.add_argument("--history", type=file_path, help="audit history (default: reports/history.db)")
    add_config(s, "shadow-audit.toml")
    s.add_argument("--force", action="store_true", help="move although NOT READY (needs --reason)")
    s.add_argument(
        "--reason", help="why; recorded with the transition (default: none; needed with --force)"
    )
    s.add_argument("--now", type=iso_time, help="decide as of this ISO time (default: now)")

    s = command(steps, "rollback", cmd_rollback, "one phase back; JSON first brought up to date")
    s.add_argument("--source", type=folder_path, required=True, help="folder of workspaces")
    s.add_argument("--shadow", type=file_path, required=True, help="SQLite file")
    add_config(s, "shadow-audit.toml")
    s.add_argument("--reason", help="why; recorded with the transition (default: none)")
    s.add_argument("--now", type=iso_time, help="the time of the transition (default: now)")

    p = command(sub, "export", cmd_export, "write the JSON archive of everything SQLite holds")
    p.add_argument("--shadow", type=file_path, required=True, help="SQLite file (read-only)")
    p.add_argument("--out", type=folder_path, required=True, help="folder to write")
    p.add_argument("--overwrite", action="store_true", help="replace files holding other documents")
    add_config(p, "shadow-audit.toml")


def _no_step(args: argparse.Namespace) -> int:
    raise UsageError("cutover: name a step: status, advance or rollback")
