"""`shadow-audit demo`: the one-minute tour, told step by step."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from shadow_audit.cli import EXIT_FAIL, EXIT_OK, run_audit, run_repair
from shadow_audit.engine.findings import AuditResult
from shadow_audit.errors import UsageError


def run_demo(*, directory: Path, projects: int, seed: int) -> int:
    """Tell the demo step by step; return 0 when it showed what it should (RED, then GREEN
    after repair, and a gate that is NOT READY on a short history).

    Args:
        directory: a fresh folder, or one a previous demo made.
        projects: how many projects to generate (at least 5, one per failure mode).
        seed: the random seed of the generated projects.

    Returns:
        The exit code.
    """
    from shadow_audit.demo import build_demo_store, gate_demo, inject_incidents

    if projects < 5:
        raise UsageError("--projects must be at least 5 (one per failure mode)")
    started = datetime.now(UTC)
    store = build_demo_store(directory, projects=projects, seed=seed)
    print(f"1. {store.projects} projects dual-written by the real writer")
    print(f"   JSON store (source of truth): {store.source}")
    print(f"   SQLite shadow (reference schema v2): {store.shadow}")
    print("2. the reference system's failure modes, one project each:")
    incidents = inject_incidents(store)
    for i in incidents:
        print(f"   - {i.name:<22} {i.key}: {i.what}")
    history = store.history

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
    decision, files = gate_demo(store)
    print(f"   {decision.verdict}")
    for r in decision.reasons:
        print(f"   {'pass' if r.passed else 'FAIL'}  {r.check}: {r.message}")
    print(f"   decision: {files[1]}, {files[0]}")
    seconds = (datetime.now(UTC) - started).total_seconds()
    reports = store.run_reports()
    print(f"demo finished in {seconds:.1f}s; runs recorded: {len(reports)}")
    if len(reports) >= 2:
        print(f"open the RED run's report: {reports[0]}")
        print(f"and the GREEN one after repair: {reports[-1]}")
    ok = code == EXIT_OK and not decision.ready
    return EXIT_OK if ok else EXIT_FAIL
