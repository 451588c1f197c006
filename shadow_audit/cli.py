"""The shadow-audit command: parse arguments, call the library, print, return an exit code."""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from shadow_audit.errors import ShadowAuditError, SourceError, UsageError
from shadow_audit.profiles import DEFAULT_DB_PATH

EXIT_OK, EXIT_FAIL, EXIT_ERROR = 0, 1, 2


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
    from shadow_audit.validation import kind_from_filename, parse_json, validate_document

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
        issues = validate_document(doc, kind)
        for issue in issues:
            print(f"{path}: {issue}")
        bad += bool(issues)
    print(f"{len(files)} files: {len(files) - bad} valid, {bad} invalid", file=sys.stderr)
    return EXIT_FAIL if bad else EXIT_OK


# --- backfill ---------------------------------------------------------------


def cmd_backfill(args: argparse.Namespace) -> int:
    from shadow_audit.backfill import backfill
    from shadow_audit.config import load_config
    from shadow_audit.stores.json_store import JsonStore
    from shadow_audit.stores.sqlite_shadow import SqliteShadow

    config = load_config(args.config)
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


def _formats(raw: str) -> list[str]:
    from shadow_audit.report import FORMATS

    formats = [f.strip() for f in raw.split(",") if f.strip()]
    unknown = [f for f in formats if f not in FORMATS]
    if unknown:
        raise UsageError(f"--format: unknown {', '.join(unknown)} (known: {', '.join(FORMATS)})")
    return ["json", *formats]


def run_audit(
    source: Path, shadow: Path, out: Path, formats: list[str], config_path: str | None
) -> int:
    from shadow_audit.audit.run import audit
    from shadow_audit.config import load_config
    from shadow_audit.report import write_reports

    config = load_config(config_path)
    with _progress("audit") as tick:
        result = audit(source, shadow, config=config, progress=tick)
    paths = write_reports(result, out, formats)
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
    for path in paths:
        print(f"report: {path}")
    return EXIT_OK if result.status == "GREEN" else EXIT_FAIL


def cmd_audit(args: argparse.Namespace) -> int:
    return run_audit(
        Path(args.source), Path(args.shadow), Path(args.out), _formats(args.format), args.config
    )


# --- demo -------------------------------------------------------------------


def cmd_demo(args: argparse.Namespace) -> int:
    from shadow_audit.demo import build_demo_store

    if args.projects < 1:
        raise UsageError("--projects must be at least 1")
    store = build_demo_store(Path(args.dir), projects=args.projects, seed=args.seed)
    print(f"demo: {store.projects} projects dual-written")
    print(f"  JSON store (source of truth): {store.source}")
    print(f"  SQLite shadow:                {store.shadow}")
    print(f"  failure ledger:               {store.ledger}")
    status = run_audit(store.source, store.shadow, store.root / "reports", ["json"], None)
    reports = store.root / "reports"
    print(
        f"try: shadow-audit audit --source {store.source} --shadow {store.shadow} --out {reports}"
    )
    return status


# --- wiring -----------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="shadow-audit",
        description="Audit a JSON -> SQLite shadow migration. Exit codes: 0 ok, 1 findings or "
        "invalid documents, 2 usage or I/O error.",
    )
    parser.add_argument("--debug", action="store_true", help="show tracebacks for errors")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("validate", help="validate documents against the JSON Schemas")
    p.add_argument("paths", nargs="+", help="files or folders (manifest/memory told apart by name)")
    p.add_argument("--kind", choices=["manifest", "memory"], help="treat every file as this kind")
    p.set_defaults(func=cmd_validate)

    p = sub.add_parser("backfill", help="import every valid source document into the shadow")
    p.add_argument("--source", required=True, help="folder of workspaces (the JSON store)")
    p.add_argument(
        "--shadow", default=DEFAULT_DB_PATH, help=f"SQLite file (default {DEFAULT_DB_PATH})"
    )
    p.add_argument("--config", help="TOML config (mapping, tolerances, ignore rules)")
    p.set_defaults(func=cmd_backfill)

    p = sub.add_parser("audit", help="compare the JSON store with the shadow, write reports")
    p.add_argument("--source", required=True, help="folder of workspaces (the JSON store)")
    p.add_argument("--shadow", required=True, help="SQLite file (opened read-only)")
    p.add_argument("--out", required=True, help="folder for report.json and other formats")
    p.add_argument("--format", default="json", help="comma-separated formats (json always)")
    p.add_argument("--config", help="TOML config (mapping, tolerances, ignore rules)")
    p.set_defaults(func=cmd_audit)

    p = sub.add_parser("demo", help="build a demo store, dual-write it and audit it")
    p.add_argument(
        "--dir", default="shadow-audit-demo", help="fresh folder (default ./shadow-audit-demo)"
    )
    p.add_argument("--projects", type=int, default=25, help="projects to generate (default 25)")
    p.add_argument("--seed", type=int, default=7, help="random seed (default 7)")
    p.set_defaults(func=cmd_demo)
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
        return exc.exit_code if exc.exit_code != EXIT_FAIL else EXIT_FAIL
    except KeyboardInterrupt:
        _err("interrupted")
        return EXIT_ERROR
    return code


if __name__ == "__main__":
    sys.exit(main())
