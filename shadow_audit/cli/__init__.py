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

if TYPE_CHECKING:
    from shadow_audit.engine.findings import AuditResult
    from shadow_audit.report import PublishedRun

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


def _files(paths: Sequence[str]) -> list[Path]:
    files: list[Path] = []
    for raw in paths:
        p = Path(raw)
        if p.is_dir():
            found = sorted({*p.rglob("*manifest.json"), *p.rglob("*memory.json")})
            files += [f for f in found if f.is_file()]
        elif p.exists():
            files.append(p)
        else:
            raise SourceError(f"{p}: no such file or folder")
    return files


def cmd_validate(args: argparse.Namespace) -> int:
    from shadow_audit.upgrade import describe_fix, unit_folder
    from shadow_audit.validation import (
        document_problems,
        kind_from_filename,
        parse_json,
        validate_document,
    )

    files = _files(args.paths)
    bad = 0
    for path in files:
        kind = args.kind or kind_from_filename(path)
        try:
            data = path.read_bytes()
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
) -> tuple[int, AuditResult]:
    """One scheduled-style run (library: ``publish_run``), printed. (exit code, result)"""
    from shadow_audit.report import publish_run

    run = publish_run(
        source, shadow, out=out, formats=formats, config=config_path, history=history,
        keep=keep, workers=workers,
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
            progress=tick,
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


def cmd_gate(args: argparse.Namespace) -> int:
    import orjson

    from shadow_audit.config import load_config, today_utc
    from shadow_audit.gate import GatePolicy, decide, render_gate_markdown
    from shadow_audit.ledger import FailureLedger, default_ledger_path
    from shadow_audit.report import History
    from shadow_audit.stores.json_store import atomic_write

    config = load_config(_config_path(args.config))
    policy = GatePolicy.from_config(config.gate)
    ledger_path = Path(args.ledger) if args.ledger else default_ledger_path(args.shadow)
    ledger = FailureLedger(ledger_path).read()
    if ledger.torn:
        _err(f"ledger {ledger_path}: {ledger.torn} lines cut short by a dying writer are ignored")
    now = datetime.fromisoformat(args.now.replace("Z", "+00:00")) if args.now else datetime.now(UTC)
    active = sum(1 for r in config.ignore if r.active(now.date() if args.now else today_utc()))
    runs = History(args.history).runs() if Path(args.history).exists() else []
    decision = decide(runs, policy=policy, ledger=ledger.entries, active_rules=active, now=now)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    atomic_write(
        out / "gate.json", orjson.dumps(decision.to_dict(), option=orjson.OPT_INDENT_2) + b"\n"
    )
    atomic_write(out / "gate.md", render_gate_markdown(decision).encode())
    print(decision.verdict)
    for r in decision.reasons:
        print(f"  {'pass' if r.passed else 'FAIL'}  {r.check}: {r.message}")
    print(f"decision: {out / 'gate.md'}, {out / 'gate.json'}")
    return EXIT_OK if decision.ready else EXIT_FAIL


# --- repair -----------------------------------------------------------------


def run_repair(
    *, source: Path, shadow: Path, out: Path, config_path: str | None, execute: bool,
    migrate: bool, force: bool, show: int = 50,
) -> int:  # fmt: skip
    from shadow_audit.config import load_config
    from shadow_audit.engine.run import audit
    from shadow_audit.repair import execute_repair, plan_repair
    from shadow_audit.stores.json_store import JsonStore
    from shadow_audit.stores.sqlite_shadow import SqliteShadow

    config = load_config(config_path)
    db = SqliteShadow(shadow, config.mapping, create=False)
    if not shadow.is_file():
        raise UsageError(f"database {shadow}: no such file")
    from shadow_audit.cli.cutover import repair_json_copy, sqlite_is_truth

    if sqlite_is_truth(shadow):  # sqlite-primary on: the JSON copy is made equal to SQLite
        return repair_json_copy(source, shadow, config=config, execute=execute)
    if migrate and execute:
        rebuilt = db.migrate()
        print(f"migrated: {', '.join(rebuilt) if rebuilt else 'schema already current'}")
    elif migrate:
        print("migrate: the schema is brought to the mapping's DDL first (with --execute)")
    store = JsonStore(source, config.mapping)
    before = audit(source, shadow, config=config)
    plan = plan_repair(before, store)
    print(
        f"plan: {len(plan.actions)} row operations over {len(plan.sync) + len(plan.delete)} units"
    )
    for action in plan.actions[:show]:
        print(f"  {action}")
    if len(plan.actions) > show:
        print(f"  ... {len(plan.actions) - show} more")
    if not execute:
        print("dry run: nothing changed (pass --execute to apply)")
        return EXIT_FAIL if not plan.empty else EXIT_OK
    if plan.empty:
        print("nothing to repair")
        return EXIT_OK if before.status == "GREEN" else EXIT_FAIL
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    outcome = execute_repair(
        plan, store, db, before_images=out / f"repair-{stamp}.before.json", force=force
    )
    print(
        f"repaired: {len(outcome.synced)} units re-synced from JSON, {len(outcome.deleted)} deleted"
    )
    if outcome.skipped:
        print(f"  skipped (source invalid now): {', '.join(outcome.skipped)}")
    print(f"before-images: {outcome.before_images}")
    after = audit(source, shadow, config=config)
    touched = {*outcome.synced, *outcome.deleted}
    left = [f for f in after.findings if f.key.split("/", 1)[0] in touched]
    print(f"re-audit: {after.status}; {len(left)} findings left on the repaired keys")
    return EXIT_OK if after.status == "GREEN" else EXIT_FAIL


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
    p.set_defaults(func=cmd_audit)

    p = sub.add_parser("history", help="list recent audit runs")
    p.add_argument(
        "--history", default=str(Path(DEFAULT_REPORTS) / "history.db"), help="history database"
    )
    p.add_argument("--limit", type=int, default=20, help="how many runs (default 20)")
    p.set_defaults(func=cmd_history)

    p = sub.add_parser("gate", help="decide the cutover from the history and a policy")
    p.add_argument(
        "--history", default=str(Path(DEFAULT_REPORTS) / "history.db"), help="history database"
    )
    p.add_argument("--config", help=f"TOML config with a [gate] table (default ./{DEFAULT_CONFIG})")
    p.add_argument(
        "--shadow", default=DEFAULT_DB_PATH, help="the shadow database, to find its failure ledger"
    )
    p.add_argument("--ledger", help="failure ledger (default <shadow>.failures.jsonl)")
    p.add_argument(
        "--out", default=DEFAULT_REPORTS, help="where gate.md and gate.json go (default reports)"
    )
    p.add_argument("--now", help="decide as of this ISO time (default: now)")
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
