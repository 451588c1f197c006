"""The shadow-audit command: parse arguments, call the library, print, return an exit code.

0 ok / GREEN / READY; 1 findings, invalid documents, NOT READY; 2 usage or I/O error
(one line on stderr). Library errors are mapped here, in ``main``, and nowhere else.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from shadow_audit.errors import ShadowAuditError, SourceError, UsageError
from shadow_audit.profiles import DEFAULT_DB_PATH
from shadow_audit.text import visible

if TYPE_CHECKING:
    from shadow_audit.engine.findings import AuditResult
    from shadow_audit.report import PublishedRun
    from shadow_audit.stores.files import FilePolicy

EXIT_OK, EXIT_FAIL, EXIT_ERROR = 0, 1, 2
DEFAULT_CONFIG = "shadow-audit.toml"
DEFAULT_REPORTS = "reports"


def _err(message: str) -> None:
    print(f"shadow-audit: {message}", file=sys.stderr)


@contextmanager
def _progress(label: str, total: int | None = None) -> Iterator[Callable[[int], None]]:
    """A progress bar on a terminal; nothing when stderr is not a TTY."""
    from tqdm import tqdm

    bar = tqdm(total=total, desc=label, unit="doc", disable=not sys.stderr.isatty(), leave=False)

    def tick(n: int) -> None:
        bar.update(n)

    try:
        yield tick
    finally:
        bar.close()


def _config_path(raw: str | None) -> str | None:
    """--config, else ./shadow-audit.toml when it exists."""
    if raw is not None:
        return raw
    return DEFAULT_CONFIG if Path(DEFAULT_CONFIG).is_file() else None


# --- validate ---------------------------------------------------------------


def _files(paths: Sequence[str]) -> list[tuple[Path, Path | None]]:
    """(file, the folder it was found in; None when named explicitly)."""
    files: list[tuple[Path, Path | None]] = []
    for raw in paths:
        p = Path(raw)
        if p.is_dir():
            found = sorted({*p.rglob("*manifest.json"), *p.rglob("*memory.json")})
            files += [(f, p) for f in found if not f.is_dir()]
        elif p.exists() or p.is_symlink():
            files.append((p, None))
        else:
            raise SourceError(f"{p}: no such file or folder")
    return files


def cmd_validate(args: argparse.Namespace) -> int:
    from shadow_audit.stores.files import FilePolicy, FileRefused, SafeReader
    from shadow_audit.upgrade import describe_fix, unit_folder
    from shadow_audit.validation import (
        document_problems,
        kind_from_filename,
        parse_json,
        validate_document,
    )

    files = _files(args.paths)
    policy = _file_policy(args)
    bad = 0
    for path, found_in in files:
        kind = args.kind or kind_from_filename(path)
        named = FilePolicy(policy.max_document_mb, follow_symlinks=True)  # the user chose it
        reader = SafeReader(found_in or path.parent, policy if found_in else named)
        try:
            data = reader.read(path)
        except FileRefused as exc:
            print(visible(str(exc)))
            bad += 1
            continue
        except OSError as exc:
            raise SourceError(f"{path}: cannot read: {exc.strerror}") from exc
        try:
            doc = parse_json(data, str(path))
        except SourceError as exc:
            print(str(exc))
            bad += 1
            continue
        problems = [str(i) for i in validate_document(doc, kind)]
        if not problems:
            problems = document_problems(data, None) or []  # duplicate keys
        for problem in problems:
            print(f"{path}: {problem}")
        if problems and (fix := describe_fix(doc, kind, unit=unit_folder(path))):
            print(f"{path}: {fix}")
        bad += bool(problems)
    print(f"{len(files)} files: {len(files) - bad} valid, {bad} invalid", file=sys.stderr)
    return EXIT_FAIL if bad else EXIT_OK


# --- backfill ---------------------------------------------------------------


def cmd_backfill(args: argparse.Namespace) -> int:
    from shadow_audit.backfill import backfill
    from shadow_audit.config import load_config
    from shadow_audit.stores.json_store import JsonStore
    from shadow_audit.stores.sqlite_shadow import SqliteShadow

    config = load_config(_config_path(args.config))
    store = JsonStore(args.source, config.mapping)
    units = store.units()
    shadow = SqliteShadow(args.shadow, config.mapping)
    with _progress("backfill", len(units)) as tick:
        result = backfill(store, shadow, progress=tick)
    for skipped in result.skipped:
        for reason in skipped.reasons:
            print(f"skipped {skipped.path}: {reason}")
    print(
        f"backfill: {result.imported} of {result.units} units imported into {args.shadow}, "
        f"{len(result.skipped)} documents skipped"
    )
    return EXIT_FAIL if result.skipped else EXIT_OK


# --- audit ------------------------------------------------------------------


def _print_result(result: AuditResult) -> None:
    counts = {k: v for k, v in result.counts().items() if v}
    detail = ", ".join(f"{v} {k}" for k, v in counts.items()) or "no findings"
    print(f"{result.status}: {result.documents} documents, {detail}")
    for f in result.findings[:10]:
        where = f"{f.entity} {f.key}" + (f" {f.field}" if f.field else "")
        print(f"  {f.kind:<18} {where}")
    if len(result.findings) > 10:
        print(f"  ... {len(result.findings) - 10} more in the report")
    checked = result.recheck
    if checked is not None and checked.units:
        transient = sum(checked.transient.values())
        print(
            f"  re-check: {checked.units} units, {transient} transient differences, "
            f"{checked.unstable_units} unstable (settle {checked.settle_seconds:g}s)"
        )
    if result.ignored:
        print(f"  {len(result.ignored)} findings ignored by active rules (listed in the report)")
    if result.coverage.lost_paths:
        print(f"  coverage: the shadow cannot hold {', '.join(result.coverage.lost_paths)}")
    if result.coverage.missing_tables:
        print(f"  coverage: tables missing: {', '.join(result.coverage.missing_tables)}")


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

    with _progress("audit") as tick:
        run = publish_run(
            args.source, args.shadow, out=args.out, formats=args.format.split(","),
            config=_config_path(args.config), keep=args.keep, max_findings=args.max_findings,
            history=None if args.no_history else args.history, workers=args.workers,
            progress=tick, files=_file_policy(args), settle=args.settle,
        )  # fmt: skip
    return _print_run(run)


# --- history / gate ---------------------------------------------------------


def cmd_history(args: argparse.Namespace) -> int:
    from shadow_audit.report import History

    runs = History(args.history).runs(limit=args.limit)
    print(f"{'run':>5}  {'finished':<29}{'status':<7}{'docs':>7}{'findings':>10}{'parity':>9}")
    for r in runs:
        counts = f"{r.documents:>7}{r.findings:>10}{r.parity:>9.4f}"
        print(f"{r.id:>5}  {r.finished_at:<29}{r.status:<7}{counts}")
    return EXIT_OK


def _instant(raw: str) -> datetime:
    """--now: an ISO date-time (a naive one is UTC)."""
    try:
        moment = datetime.fromisoformat(raw.replace("Z", "+00:00"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"{raw!r} is not an ISO date-time") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


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
        print(f"plan: {len(plan.actions)} row operations over {plan.units} units")
        for action in plan.actions[:show]:
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
        print("dry run: nothing changed (pass --execute to apply)")
        return EXIT_OK if outcome.plan.empty else EXIT_FAIL
    if done is None:
        print("nothing to repair")
    else:
        print(
            f"repaired: {len(done.synced)} units re-synced from JSON, {len(done.deleted)} deleted"
        )
        for note in done.replanned:
            print(f"  re-planned {visible(str(note))}")
        for note in done.skipped:
            print(f"  skipped {visible(str(note))}")
        print(f"before-images: {done.before_images}")
        print(f"re-audit: {outcome.status}; {outcome.left} findings left on the repaired keys")
    if outcome.red_because:
        print(f"still RED: {outcome.red_because}")
    return EXIT_OK if outcome.status == "GREEN" else EXIT_FAIL


def cmd_repair(args: argparse.Namespace) -> int:
    return run_repair(
        source=Path(args.source), shadow=Path(args.shadow), out=Path(args.out),
        config_path=_config_path(args.config), execute=args.execute, migrate=args.migrate,
        force=args.force,
    )  # fmt: skip


# --- demo -------------------------------------------------------------------


def cmd_demo(args: argparse.Namespace) -> int:
    from shadow_audit.cli.demo import run_demo

    return run_demo(args)


# --- wiring -----------------------------------------------------------------


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
        "--max-document-mb", type=_megabytes, default=64.0,
        help="larger documents are reported, not read (default 64)",
    )  # fmt: skip
    p.add_argument(
        "--follow-symlinks", action="store_true",
        help="follow symlinks that leave the source folder (default: report them)",
    )  # fmt: skip


def _file_policy(args: argparse.Namespace) -> FilePolicy:
    from shadow_audit.stores.files import FilePolicy

    return FilePolicy(max_document_mb=args.max_document_mb, follow_symlinks=args.follow_symlinks)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="shadow-audit",
        description="Audit a JSON -> SQLite shadow migration. Exit codes: 0 ok, 1 findings or "
        "invalid documents or NOT READY, 2 usage or I/O error.",
    )
    parser.add_argument("--debug", action="store_true", help="show tracebacks for errors")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("validate", help="validate documents against the JSON Schemas")
    p.add_argument("paths", nargs="+", help="files or folders (manifest/memory told apart by name)")
    p.add_argument("--kind", choices=["manifest", "memory"], help="treat every file as this kind")
    _file_options(p)
    p.set_defaults(func=cmd_validate)

    from shadow_audit.cli.upgrade import add_parser as add_upgrade

    add_upgrade(sub)

    p = sub.add_parser("backfill", help="import every valid source document into the shadow")
    p.add_argument("--source", required=True, help="folder of workspaces (the JSON store)")
    p.add_argument(
        "--shadow", default=DEFAULT_DB_PATH, help=f"SQLite file (default {DEFAULT_DB_PATH})"
    )
    p.add_argument("--config", help=f"TOML config (default ./{DEFAULT_CONFIG} when present)")
    p.set_defaults(func=cmd_backfill)

    p = sub.add_parser("audit", help="compare the JSON store with the shadow, write reports")
    p.add_argument("--source", required=True, help="folder of workspaces (the JSON store)")
    p.add_argument("--shadow", required=True, help="SQLite file (opened read-only)")
    p.add_argument("--out", required=True, help="report folder: latest reports + runs/<run>/")
    p.add_argument("--format", default="json", help="comma-separated: json,md,html,junit,prom")
    p.add_argument("--config", help=f"TOML config (default ./{DEFAULT_CONFIG} when present)")
    p.add_argument(
        "--history",
        default=str(Path(DEFAULT_REPORTS) / "history.db"),
        help="history database (default reports/history.db)",
    )
    p.add_argument("--no-history", action="store_true", help="do not record this run")
    p.add_argument("--keep", type=int, help="keep only the newest N run folders (at least 1)")
    p.add_argument(
        "--max-findings", type=int, default=500,
        help="findings shown in md and html (default 500; all are in report.json)",
    )  # fmt: skip
    p.add_argument(
        "--workers", type=int, help="1: validate inline; 2: on a second core (default: by size)"
    )
    p.add_argument(
        "--settle",
        type=float,
        metavar="SECONDS",
        help="how long a difference must hold to be drift while writers that skip the lock "
        "may be mid-save; waited at most once per run (default 5, or [audit] settle)",
    )
    _file_options(p)
    p.set_defaults(func=cmd_audit)

    p = sub.add_parser("history", help="list recent audit runs")
    p.add_argument(
        "--history", default=str(Path(DEFAULT_REPORTS) / "history.db"), help="history database"
    )
    p.add_argument("--limit", type=int, default=20, help="how many runs (default 20)")
    p.set_defaults(func=cmd_history)

    p = sub.add_parser(
        "gate",
        help="decide the cutover from the history and a policy",
        description="Judge one shadow against one source: only runs of that very database "
        "(same path and identity) and that source count; the newest must be recent.",
    )
    p.add_argument(
        "--history",
        help="history database (default reports/history.db; a file given here must exist)",
    )
    p.add_argument("--config", help=f"TOML config with a [gate] table (default ./{DEFAULT_CONFIG})")
    p.add_argument(
        "--shadow", default=DEFAULT_DB_PATH, help=f"the shadow judged (default {DEFAULT_DB_PATH})"
    )
    p.add_argument(
        "--source", help="the source folder judged (default: the newest run's of that shadow)"
    )
    p.add_argument("--ledger", help="failure ledger (default <shadow>.failures.jsonl)")
    p.add_argument(
        "--out", default=DEFAULT_REPORTS, help="where gate.md and gate.json go (default reports)"
    )
    p.add_argument("--now", type=_instant, help="decide as of this ISO time (default: now)")
    p.set_defaults(func=cmd_gate)

    p = sub.add_parser("repair", help="make the shadow equal the JSON (dry run by default)")
    p.add_argument("--source", required=True, help="folder of workspaces (the JSON store)")
    p.add_argument("--shadow", required=True, help="SQLite file to repair")
    mode = p.add_mutually_exclusive_group()
    mode.add_argument("--dry-run", action="store_true", help="print the plan only (default)")
    mode.add_argument("--execute", action="store_true", help="apply the plan in one transaction")
    p.add_argument(
        "--migrate", action="store_true", help="first bring the schema to the mapping's DDL"
    )
    p.add_argument(
        "--force", action="store_true", help="delete even while source documents are invalid"
    )
    p.add_argument(
        "--out", default=DEFAULT_REPORTS, help="where the before-images go (default reports)"
    )
    p.add_argument("--config", help=f"TOML config (default ./{DEFAULT_CONFIG} when present)")
    p.set_defaults(func=cmd_repair)

    p = sub.add_parser(
        "demo", help="build a demo store, break it like the reference system, audit, repair, gate"
    )
    p.add_argument(
        "--dir", default="shadow-audit-demo", help="fresh folder (default ./shadow-audit-demo)"
    )
    p.add_argument(
        "--projects", type=int, default=25, help="projects to generate (default 25, at least 5)"
    )
    p.add_argument("--seed", type=int, default=7, help="random seed (default 7)")
    p.add_argument("--cutover", action="store_true", help="the Phase 2 journey (cutover)")
    p.set_defaults(func=cmd_demo)

    from shadow_audit.cli.cutover import register as register_cutover

    register_cutover(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="shadow-audit: %(levelname)s: %(message)s")
    try:
        code: int = args.func(args)
    except ShadowAuditError as exc:
        if args.debug:
            raise
        _err(str(exc))
        return exc.exit_code
    except KeyboardInterrupt:
        _err("interrupted")
        return EXIT_ERROR
    return code
