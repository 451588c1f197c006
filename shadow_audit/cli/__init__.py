"""The shadow-audit command: parse arguments, call the library, print, return an exit code.

0 ok / GREEN / READY; 1 findings, invalid documents, NOT READY; 2 usage or I/O error
(one line on stderr); 3 internal error (a bug: the traceback is printed). Library errors
are mapped here, in ``main``, and nowhere else.
"""

from __future__ import annotations

import argparse
import sys
import traceback
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from shadow_audit.backfill import BATCH
from shadow_audit.cli.options import (
    EXIT_CODES,
    CommandParser,
    HelpFormatter,
    add_config,
    file_in_folder,
    file_path,
    folder_path,
    format_list,
    history_folder_exists,
    iso_time,
    positive_int,
    worker_count,
)
from shadow_audit.cli.terminal import progress_bars, setup_logging
from shadow_audit.errors import ShadowAuditError, UsageError
from shadow_audit.profiles import DEFAULT_DB_PATH
from shadow_audit.report.history import DEFAULT_HISTORY
from shadow_audit.text import plural as _plural
from shadow_audit.text import visible

if TYPE_CHECKING:
    from shadow_audit.engine.distributed import DaskEngine
    from shadow_audit.engine.findings import AuditResult
    from shadow_audit.report import PublishedRun
    from shadow_audit.stores.files import FilePolicy

EXIT_OK, EXIT_FAIL, EXIT_ERROR, EXIT_INTERNAL = 0, 1, 2, 3
DEFAULT_CONFIG = "shadow-audit.toml"
DEFAULT_REPORTS = "reports"


def _err(message: str) -> None:
    print(f"shadow-audit: {message}", file=sys.stderr)


def _config_path(raw: str | None) -> str | None:
    """--config, else ./shadow-audit.toml when it exists."""
    if raw is not None:
        return raw
    return DEFAULT_CONFIG if Path(DEFAULT_CONFIG).is_file() else None


# --- validate ---------------------------------------------------------------


def cmd_validate(args: argparse.Namespace) -> int:
    """``validate``: every problem as ``FILE: /pointer: message``, then a summary (stdout).

    Args:
        args: ``paths``, ``kind``.

    Returns:
        0 when every file is valid, 1 when one is not.
    """
    from shadow_audit.validate_files import validate_files

    checks = validate_files(args.paths, kind=args.kind, files=_file_policy(args))
    for check in checks:
        for problem in check.problems:
            print(f"{visible(str(check.path))}: {visible(problem)}")
        if check.fix:
            print(f"{visible(str(check.path))}: {visible(check.fix)}")
    bad = sum(not c.valid for c in checks)
    print(f"{_plural(len(checks), 'file')}: {len(checks) - bad} valid, {bad} invalid")
    return EXIT_FAIL if bad else EXIT_OK


# --- backfill ---------------------------------------------------------------


def cmd_backfill(args: argparse.Namespace) -> int:
    """``backfill``: each skipped document with its reasons, then the counts.

    Args:
        args: ``source``, ``shadow``, ``config``, ``workers``, ``batch``, ``migrate``.

    Returns:
        0 when nothing was skipped, 1 otherwise.
    """
    from shadow_audit.backfill import backfill
    from shadow_audit.config import load_config

    config = load_config(_config_path(args.config))
    try:
        with progress_bars("backfill") as tick:
            result = backfill(
                args.source, args.shadow, mapping=config.mapping, progress=tick,
                workers=args.workers, batch=args.batch, migrate=args.migrate,
                require_units=True,
            )  # fmt: skip
    except KeyboardInterrupt:
        _err("interrupted: the batches written are kept; run backfill again to import the rest")
        return EXIT_ERROR
    for skipped in result.skipped:
        for reason in skipped.reasons:
            print(f"skipped {visible(skipped.path)}: {visible(reason)}")
        if skipped.fix:
            print(f"skipped {visible(skipped.path)}: {visible(skipped.fix)}")
    counts = [f"{result.imported:,} imported", f"{result.unchanged:,} unchanged"]
    if result.partial:
        counts.append(f"{result.partial:,} imported without an invalid companion document")
    print(
        f"backfill: {_plural(result.units, 'unit')} into {visible(args.shadow)}: "
        f"{', '.join(counts)}; {_plural(len(result.skipped), 'document')} skipped"
    )
    legacy = sum(s.fix is not None for s in result.skipped)
    if legacy:
        print(
            f"{_plural(legacy, 'skipped document')} in a legacy shape: see what upgrade would "
            f"change with `shadow-audit upgrade --source {visible(args.source)} --dry-run`"
        )
    return EXIT_FAIL if result.skipped else EXIT_OK


# --- audit ------------------------------------------------------------------


def _hours(text: str) -> float:
    """``--full-every``: a number of hours >= 0."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of hours") from None
    if not value >= 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"{text} is not a number of hours >= 0")
    return value


def _print_result(result: AuditResult, *, show: int = 10) -> None:
    """The verdict, then the first findings as the reports list them: value mismatches
    first, a document held by one side only as one line, keys with their numbers in order,
    at most 3 per document."""
    from shadow_audit.report.view import document_of, group_findings, kind_counts

    counts = kind_counts(result.findings)
    detail = ", ".join(f"{v} {k}" for k, v in counts.items()) or "no findings"
    print(f"{result.status}: {_plural(result.documents, 'document')}, {detail}")
    if result.incremental is not None:
        from shadow_audit.report.markdown import mode_line

        print(f"  mode: {mode_line(result)}")
    view = group_findings(result.findings, limit=show, per_document=3)
    rest = view.hidden
    for group in view.groups:
        if group.side_kind:
            print(f"  {group.side_kind:<18} {visible(group.document)}: {group.headline}")
        for f in group.findings:
            where = f"{f.entity} {f.key}" + (f" {f.field}" if f.field else "")
            print(f"  {f.kind:<18} {visible(where)}")
        if not group.one_sided and len(group.findings) < group.total:
            left = group.total - len(group.findings)
            rest -= left
            print(f"  {'...':<18} {visible(group.document)}: {_plural(left, 'more finding')}")
    if rest:
        others = len({document_of(f) for f in result.findings}) - len(view.groups)
        print(f"  ... {_plural(rest, 'more finding')} in {_plural(others, 'other document')}")
    if view.hidden:
        print("  every finding is in the report")
    checked = result.recheck
    if checked is not None and checked.units:
        transient = sum(checked.transient.values())
        print(
            f"  re-check: {_plural(checked.units, 'unit')}, "
            f"{_plural(transient, 'transient difference')}, "
            f"{checked.unstable_units} unstable (settle {checked.settle_seconds:g}s)"
        )
    if result.ignored:
        ignored = _plural(len(result.ignored), "finding")
        print(f"  {ignored} ignored by active rules (listed in the report)")
    if result.coverage.lost_paths:
        lost = visible(", ".join(result.coverage.lost_paths))
        print(f"  coverage: the shadow cannot hold {lost}")
    if result.coverage.missing_tables:
        print(f"  coverage: tables missing: {visible(', '.join(result.coverage.missing_tables))}")


def _print_run(run: PublishedRun) -> int:
    if run.result is None or run.published is None:
        _err(run.skipped or "nothing was audited")
        return EXIT_OK
    _print_result(run.result)
    if run.delta is not None and run.delta.previous_run is not None:
        d = run.delta
        print(f"  since run {d.previous_run}: {len(d.new)} new, {len(d.persisting)} persisting, "
              f"{len(d.resolved)} resolved")  # fmt: skip
    for path in run.published.latest:
        print(f"report: {path}")
    print(f"this run: {run.published.run_dir}")
    return run.exit_code


def run_audit(
    *,
    source: Path,
    shadow: Path,
    out: Path,
    formats: list[str],
    config_path: str | None,
    history: Path | None,
    keep: int | None = None,
    workers: int | None = None,
    settle: float | None = None,
) -> tuple[int, AuditResult]:
    """One scheduled-style run (library: ``publish_run``), printed. (exit code, result)"""
    from shadow_audit.report import publish_run

    run = publish_run(
        source, shadow, out=out, formats=formats, config=config_path, history=history,
        keep=keep, workers=workers, settle=settle,
    )  # fmt: skip
    code = _print_run(run)
    if run.result is None:
        raise UsageError(run.skipped or "nothing was audited")
    return code, run.result


def cmd_audit(args: argparse.Namespace) -> int:
    from shadow_audit.report import publish_run

    if not args.no_history:
        history_folder_exists(args.history, out=args.out, default=str(DEFAULT_HISTORY))
    with progress_bars("audit") as tick:
        run = publish_run(
            args.source, args.shadow, out=args.out, formats=args.format.split(","),
            config=_config_path(args.config), keep=args.keep, max_findings=args.max_findings,
            history=None if args.no_history else args.history, workers=args.workers,
            progress=tick, files=_file_policy(args), settle=args.settle,
            engine=_engine(args),
            incremental=args.incremental, full_every=args.full_every,
        )  # fmt: skip
    how = run.result.incremental if run.result is not None else None
    if how is not None and how.fallback:
        _err(f"audited in full: {how.fallback}")
    return _print_run(run)


def _engine(args: argparse.Namespace) -> str | DaskEngine:
    """``--engine``: "local", or the Dask engine with ``--scheduler`` / ``--partitions``."""
    if args.engine != "dask":
        if args.scheduler is not None or args.partitions is not None:
            raise UsageError("--scheduler and --partitions need --engine dask")
        return "local"
    import os

    from shadow_audit.engine.distributed import DaskEngine

    # dask.distributed logs every worker start at INFO (its config, read at import and by
    # each worker process): on a terminal, warnings only, unless the user configured it
    os.environ.setdefault("DASK_LOGGING__DISTRIBUTED", "warning")
    return DaskEngine(scheduler=args.scheduler, partitions=args.partitions)


# --- history / gate ---------------------------------------------------------


def cmd_history(args: argparse.Namespace) -> int:
    """``history``: the newest runs, one line each.

    Args:
        args: ``history``, ``limit``.

    Returns:
        0.
    """
    from shadow_audit.report import History
    from shadow_audit.report.history import parity_text

    runs = History(args.history).runs(limit=args.limit)
    print(f"{'run':>5}  {'finished':<29}{'status':<7}{'docs':>7}{'findings':>10}{'parity':>10}")
    for r in runs:
        counts = f"{r.documents:>7}{r.findings:>10}{parity_text(r.parity):>10}"
        print(f"{r.id:>5}  {visible(r.finished_at):<29}{visible(r.status):<7}{counts}")
    return EXIT_OK


def cmd_gate(args: argparse.Namespace) -> int:
    from shadow_audit.config import load_config
    from shadow_audit.gate import run_gate

    decision, files = run_gate(
        shadow=Path(args.shadow), source=args.source, history=args.history,
        config=load_config(_config_path(args.config)), ledger=args.ledger, now=args.now,
        out=Path(args.out),
    )  # fmt: skip
    print(decision.verdict)
    print(f"  shadow: {decision.subject.shadow} ({decision.subject.shadow_id})")
    print(f"  source: {decision.subject.source or '-'}")
    for r in decision.reasons:
        print(f"  {'pass' if r.passed else 'FAIL'}  {r.check}: {r.message}")
    for note in decision.notes:
        _err(note)
    print(f"decision: {files[1]}, {files[0]}")
    return EXIT_OK if decision.ready else EXIT_FAIL


# --- repair -----------------------------------------------------------------


def run_repair(
    *, source: Path, shadow: Path, out: Path, config_path: str | None, execute: bool,
    migrate: bool, force: bool, show: int = 50,
) -> int:  # fmt: skip
    """``repair``: one call to the library, its plan printed before anything changes."""
    from shadow_audit.cli.cutover import repair_json_copy, sqlite_is_truth
    from shadow_audit.config import load_config
    from shadow_audit.repair import RepairPlan, repair

    if sqlite_is_truth(shadow):  # sqlite-primary on: the JSON copy is made equal to SQLite
        return repair_json_copy(source, shadow, config=load_config(config_path), execute=execute)

    def print_plan(plan: RepairPlan) -> None:
        if migrate and not execute:
            print("migrate: the schema is brought to the mapping's DDL first (with --execute)")
        if plan.empty:
            print("plan: nothing to repair")
            return
        operations = _plural(len(plan.actions), "change")
        detail = ", ".join(
            f"{_plural(n, _CHANGE_NOUN[change][0])} to {_CHANGE_NOUN[change][1]}"
            for change, n in plan.changes().items()
        )
        detail = f": {detail}" if detail else ""
        print(f"plan: {operations} over {_plural(plan.units, 'unit')}{detail}")
        for action in plan.listing()[:show]:
            print(f"  {visible(str(action))}")
        if len(plan.actions) > show:
            print(f"  ... {len(plan.actions) - show} more")
        sys.stdout.flush()

    outcome = repair(
        source, shadow, config=load_config(config_path), execute=execute, migrate=migrate,
        force=force, out=out, on_plan=print_plan,
    )  # fmt: skip
    if outcome.migrated is not None:
        print(f"migrated: {', '.join(outcome.migrated) or 'schema already current'}")
    done = outcome.execution
    if not execute:
        if not outcome.plan.empty:
            print("dry run: nothing changed (pass --execute to apply)")
        elif outcome.red_because:
            print(f"still RED: {outcome.red_because}")
        return EXIT_OK if outcome.plan.empty else EXIT_FAIL
    if done is not None:
        print(
            f"repaired: {_plural(len(done.synced), 'unit')} re-synced from JSON, "
            f"{len(done.deleted)} deleted"
        )
        for note in done.replanned:
            print(f"  re-planned {visible(str(note))}")
        for note in done.skipped:
            print(f"  skipped {visible(str(note))}")
        print(f"before-images: {done.before_images}")
        left = _plural(outcome.left, "finding")
        print(f"re-audit: {outcome.status}; {left} left on the repaired keys")
    if outcome.red_because:
        print(f"still RED: {outcome.red_because}")
    return EXIT_OK if outcome.status == "GREEN" else EXIT_FAIL


_CHANGE_NOUN = {  # RepairAction.change -> (what, verb) in the plan's summary line
    "delete": ("row", "delete"),
    "update": ("value", "overwrite"),
    "insert": ("row", "insert"),
    "fill": ("empty column", "fill"),
}


def cmd_repair(args: argparse.Namespace) -> int:
    return run_repair(
        source=Path(args.source), shadow=Path(args.shadow), out=Path(args.out),
        config_path=_config_path(args.config), execute=args.execute, migrate=args.migrate,
        force=args.force,
    )  # fmt: skip


# --- demo -------------------------------------------------------------------


def cmd_demo(args: argparse.Namespace) -> int:
    """``demo``: the one-minute tour (``shadow_audit.cli.demo``).

    Args:
        args: ``dir``, ``projects``, ``seed``, ``cutover`` (the Phase 2 journey instead).

    Returns:
        0 when the tour showed what it should, 1 otherwise.
    """
    if args.cutover:
        from shadow_audit.cli.demo_cutover import run_cutover_demo

        return run_cutover_demo(directory=Path(args.dir), projects=args.projects, seed=args.seed)
    from shadow_audit.cli.demo import run_demo

    return run_demo(directory=Path(args.dir), projects=args.projects, seed=args.seed)


# --- wiring -----------------------------------------------------------------


def _command(
    sub: argparse._SubParsersAction[CommandParser],
    name: str,
    func: Callable[[argparse.Namespace], int],
    help: str,
) -> CommandParser:
    parser = sub.add_parser(
        name, help=help, description=help, epilog=EXIT_CODES, formatter_class=HelpFormatter
    )
    parser.set_defaults(func=func)
    return parser


def _megabytes(raw: str) -> float:
    try:
        value = float(raw)
    except ValueError:
        value = -1.0
    if not value > 0:
        raise argparse.ArgumentTypeError(f"{raw!r} is not a size in MB above 0")
    return value


def _file_options(p: argparse.ArgumentParser) -> None:
    """Which source files are opened (regular files only, always)."""
    p.add_argument(
        "--max-document-mb", type=_megabytes, default=64.0, metavar="MB",
        help="larger documents are reported, not read",
    )  # fmt: skip
    p.add_argument(
        "--follow-symlinks", action="store_true",
        help="follow symlinks that leave the source folder (default: report them)",
    )  # fmt: skip


def _file_policy(args: argparse.Namespace) -> FilePolicy:
    from shadow_audit.stores.files import FilePolicy

    return FilePolicy(max_document_mb=args.max_document_mb, follow_symlinks=args.follow_symlinks)


def build_parser() -> argparse.ArgumentParser:
    """The ``shadow-audit`` parser; every option is checked here, before anything runs."""
    parser = argparse.ArgumentParser(
        prog="shadow-audit",
        description="Audit a JSON -> SQLite shadow migration.",
        epilog=EXIT_CODES,
        formatter_class=HelpFormatter,
    )
    parser.add_argument("--debug", action="store_true", help="show tracebacks for errors")
    sub = parser.add_subparsers(
        dest="command", required=True, metavar="COMMAND", parser_class=CommandParser
    )
    history_db = str(DEFAULT_HISTORY)

    p = _command(sub, "validate", cmd_validate, "validate documents against the JSON Schemas")
    p.add_argument("paths", nargs="+", help="files or folders (manifest/memory told apart by name)")
    p.add_argument(
        "--kind",
        choices=["manifest", "memory"],
        help="treat every file as this kind (default: told apart by file name)",
    )
    _file_options(p)

    from shadow_audit.cli.upgrade import add_parser as add_upgrade

    add_upgrade(sub)

    p = _command(
        sub, "backfill", cmd_backfill, "import every valid source document into the shadow"
    )
    p.add_argument("--source", required=True, help="folder of workspaces (the JSON store)")
    p.add_argument(
        "--shadow",
        type=file_in_folder(DEFAULT_DB_PATH),
        default=DEFAULT_DB_PATH,
        help="SQLite file (created when new; its folder must exist)",
    )
    add_config(p, DEFAULT_CONFIG)
    p.add_argument(
        "--workers",
        type=worker_count,
        help="processes that read and project (default: the cores, at most 2, for large stores)",
    )
    p.add_argument("--batch", type=positive_int, default=BATCH, help="units per transaction")
    p.add_argument(
        "--migrate",
        action="store_true",
        help="first bring a database the reference system made (v2) to the mapping's DDL",
    )

    p = _command(sub, "audit", cmd_audit, "compare the JSON store with the shadow, write reports")
    p.add_argument("--source", required=True, help="folder of workspaces (the JSON store)")
    p.add_argument("--shadow", type=file_path, required=True, help="SQLite file (read-only)")
    p.add_argument(
        "--out", type=folder_path, required=True, help="report folder: latest + runs/<run>/"
    )
    p.add_argument(
        "--format",
        type=format_list,
        default="json",
        help="comma-separated: json,md,html,junit,prom",
    )
    add_config(p, DEFAULT_CONFIG)
    p.add_argument(
        "--history",
        type=file_path,
        default=history_db,
        help="history database (its folder exists, or is --out)",
    )
    p.add_argument("--no-history", action="store_true", help="do not record this run")
    p.add_argument(
        "--keep",
        type=positive_int,
        metavar="N",
        help="keep only the newest N run folders (default: keep all)",
    )
    p.add_argument(
        "--max-findings",
        type=positive_int,
        metavar="N",
        default=500,
        help="findings shown in md and html (all are in report.json)",
    )
    p.add_argument(
        "--workers",
        type=worker_count,
        metavar="N",
        help="1: validate inline; 2: on a second core (default: by size)",
    )
    p.add_argument(
        "--settle",
        type=float,
        metavar="SECONDS",
        help="how long a difference must hold to be drift while writers that skip the lock "
        "may be mid-save; waited at most once per run (default: 5, or [audit] settle)",
    )
    p.add_argument(
        "--engine",
        choices=("local", "dask"),
        default="local",
        help="local: this machine; dask: key partitions on dask.distributed "
        "(pip install 'shadow-audit[dask]') (default: local)",
    )
    p.add_argument(
        "--scheduler",
        metavar="ADDRESS",
        help="with --engine dask: a running scheduler, tcp://host:8786 (default: a local "
        "cluster, one worker process per core)",
    )
    p.add_argument(
        "--partitions",
        type=positive_int,
        metavar="N",
        help="with --engine dask: key partitions, one task each (default: one per worker "
        "thread, and one per 25,000 units)",
    )
    p.add_argument(
        "--incremental",
        action="store_true",
        help="re-read only what changed since the last run on --out (state kept there); "
        "a full audit, saying why, when the change record or the state cannot be trusted",
    )
    p.add_argument(
        "--full-every",
        type=_hours,
        default=24.0,
        metavar="HOURS",
        help="with --incremental: audit in full when the last full audit is this old (0: always)",
    )
    _file_options(p)

    p = _command(sub, "history", cmd_history, "list recent audit runs")
    p.add_argument("--history", type=file_path, default=history_db, help="history database")
    p.add_argument("--limit", type=positive_int, default=20, help="how many runs")

    p = _command(sub, "gate", cmd_gate, "decide the cutover from the history and a policy")
    p.description = (
        "Judge one shadow against one source: only runs of that very database "
        "(same path and identity) and that source count; the newest must be recent."
    )
    p.add_argument(
        "--history",
        type=file_in_folder(),
        help="history database (default: reports/history.db; a file given here must exist)",
    )
    add_config(p, DEFAULT_CONFIG)
    p.add_argument(
        "--shadow", type=file_path, default=DEFAULT_DB_PATH, help="the shadow database judged"
    )
    p.add_argument(
        "--source", help="the source folder judged (default: the newest run's of that shadow)"
    )
    p.add_argument(
        "--ledger", type=file_path, help="failure ledger (default: <shadow>.failures.jsonl)"
    )
    p.add_argument(
        "--out", type=folder_path, default=DEFAULT_REPORTS, help="where gate.md and gate.json go"
    )
    p.add_argument("--now", type=iso_time, help="decide as of this ISO 8601 time (default: now)")

    p = _command(sub, "repair", cmd_repair, "make the shadow equal the JSON (dry run by default)")
    p.add_argument("--source", required=True, help="folder of workspaces (the JSON store)")
    p.add_argument("--shadow", type=file_path, required=True, help="SQLite file to repair")
    mode = p.add_mutually_exclusive_group()
    mode.add_argument("--dry-run", action="store_true", help="print the plan only (the default)")
    mode.add_argument(
        "--execute", action="store_true", help="apply the plan in batches, re-checking each unit"
    )
    p.add_argument(
        "--migrate", action="store_true", help="first bring the schema to the mapping's DDL"
    )
    p.add_argument(
        "--force", action="store_true", help="delete even while source documents are invalid"
    )
    p.add_argument(
        "--out", type=folder_path, default=DEFAULT_REPORTS, help="where the before-images go"
    )
    add_config(p, DEFAULT_CONFIG)

    p = _command(
        sub, "demo", cmd_demo, "build a demo store, break it like the reference system, "
        "audit, repair, gate"
    )  # fmt: skip
    p.add_argument("--dir", type=folder_path, default="shadow-audit-demo", help="fresh folder")
    p.add_argument(
        "--projects", type=positive_int, default=25, help="projects to generate (at least 5)"
    )
    p.add_argument("--seed", type=int, default=7, help="random seed")
    p.add_argument(
        "--cutover", action="store_true", help="the Phase 2 journey instead: gate, cutover, drill"
    )

    from shadow_audit.cli.cutover import register as register_cutover

    register_cutover(sub, _command)
    return parser


def _silence_stdout() -> None:
    """Point stdout at /dev/null so the interpreter's final flush cannot fail again."""
    import os

    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    os.close(devnull)


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``shadow-audit`` with ``argv`` (default: the process's arguments).

    Args:
        argv: the arguments after the program name.

    Returns:
        The exit code: 0 ok, 1 findings, 2 usage or I/O error, 3 internal error.
    """
    args = build_parser().parse_args(argv)
    setup_logging()
    try:
        code: int = args.func(args)
    except ShadowAuditError as exc:
        if args.debug:
            traceback.print_exc()
        _err(visible(str(exc)))
        return exc.exit_code
    except KeyboardInterrupt:
        _err("interrupted")
        return EXIT_ERROR
    except BrokenPipeError:  # the reader went away (`| head`): an I/O error, not a bug
        _silence_stdout()
        _err("output closed by the reader (broken pipe)")
        return EXIT_ERROR
    except Exception as exc:  # a bug: never exit 1, which means RED
        traceback.print_exc()
        _err(f"internal error: {visible(f'{type(exc).__name__}: {exc}')}")
        _err("this is a bug in shadow-audit; please report it with the traceback above")
        return EXIT_INTERNAL
    return code
