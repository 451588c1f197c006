"""`shadow-audit demo`: the one-minute tour, told step by step."""

from __future__ import annotations

import argparse
from datetime import UTC, datetime
from pathlib import Path

from shadow_audit.cli import EXIT_FAIL, EXIT_OK, cmd_gate, run_audit, run_repair
from shadow_audit.engine.findings import AuditResult
from shadow_audit.errors import UsageError


def run_demo(args: argparse.Namespace) -> int:
    from shadow_audit.demo import build_demo_store, inject_incidents
    from shadow_audit.report import History

    if getattr(args, "cutover", False):
        from shadow_audit.cli.demo_cutover import run_cutover_demo

        return run_cutover_demo(args)
    if args.projects < 5:
        raise UsageError("--projects must be at least 5 (one per failure mode)")
    started = datetime.now(UTC)
    store = build_demo_store(Path(args.dir), projects=args.projects, seed=args.seed)
    print(f"1. {store.projects} projects dual-written by the real writer")
    print(f"   JSON store (source of truth): {store.source}")
    print(f"   SQLite shadow (reference schema v2): {store.shadow}")
    print("2. the reference system's failure modes, one project each:")
    incidents = inject_incidents(store)
    for i in incidents:
        print(f"   - {i.name:<22} {i.key}: {i.what}")
    history = store.reports / "history.db"

    def audit_demo() -> tuple[int, AuditResult]:
        return run_audit(
            source=store.source, shadow=store.shadow, out=store.reports,
            formats=["json", "md", "html", "junit", "prom"], config_path=None, history=history,
            settle=0,  # nothing writes during the demo: no saves in flight to wait out
        )  # fmt: skip

    print("3. audit")
    _, result = audit_demo()
    print("   what caught each failure mode:")
    for i in incidents:
        caught = sorted(
            {
                f"{f.kind} {f.entity}.{f.field or '*'}"
                for f in result.findings
                if f.key.split("/")[0] == i.key
            }
        )
        print(f"   - {i.name:<22} {', '.join(caught) or 'NOT CAUGHT'}")
    print("4. repair (JSON wins; the schema is migrated to hold every path)")
    run_repair(
        source=store.source, shadow=store.shadow, out=store.reports, config_path=None,
        execute=True, migrate=True, force=False, show=8,
    )  # fmt: skip
    print("5. audit again")
    code, _ = audit_demo()
    print("6. cutover gate")
    gate_args = argparse.Namespace(
        config=None, ledger=str(store.ledger), shadow=str(store.shadow), now=None, source=None,
        history=str(history), out=str(store.reports),
    )  # fmt: skip
    gate_code = cmd_gate(gate_args)
    seconds = (datetime.now(UTC) - started).total_seconds()
    print(f"demo finished in {seconds:.1f}s; runs recorded: {len(History(history).runs())}")
    print(f"open {store.reports / 'report.html'} in a browser")
    ok = code == EXIT_OK and gate_code == EXIT_FAIL
    return EXIT_OK if ok else EXIT_FAIL
