"""Report size at scale: publish a run with ~146k findings and print every file's size.

The findings have the shapes a real audit gives (keys, JSON paths, values, deepdiff
details) over generated projects: a tenth of the projects deleted from the JSON but
still in the shadow (19 rows each), sessions whose summaries drifted, concepts the
shadow lost, a few invalid manifests.

    python benchmarks/report_scale.py [--findings 146000] [--out /tmp/report-scale]

Then open ``<out>/report.html`` in a browser (the figures in the README were taken
with headless Chromium).
"""

from __future__ import annotations

import argparse
import random
import shutil
import time
from pathlib import Path

from shadow_audit.engine.findings import AuditResult, Coverage, EntitySummary, Finding
from shadow_audit.report import ReportContext, publish
from shadow_audit.report.history import Delta
from shadow_audit.synth import make_project

TABLES = ("missions", "session_narrative", "domain_concepts", "domain_concerns", "trajectory")


def deleted(pid: str) -> list[Finding]:
    rows = [("missions", pid), ("trajectory", pid)]
    rows += [("session_narrative", f"{pid}/{i}") for i in range(1, 9)]
    rows += [("domain_concepts", f"{pid}/concept-{i}") for i in range(6)]
    rows += [("domain_concerns", f"{pid}/concern-{i}") for i in range(3)]
    return [Finding("extra_in_shadow", t, k, shadow_value={"id": 1, "x": k}) for t, k in rows]


def drifted(index: int, rng: random.Random) -> list[Finding]:
    manifest, memory = make_project(index, rng, sessions=8, concepts=6, concerns=3)
    pid = manifest["metadata"]["projectId"]
    out = []
    for s in memory["narrative"]:
        new = s["summary"]
        old = new.replace("worked on", "started")
        detail = {"values_changed": {"root": {"new_value": old, "old_value": new}}}
        out.append(
            Finding("value_mismatch", "session_narrative", f"{pid}/{s['session']}", "summary",
                    "narrative[].summary", "memory", new, old, detail)
        )  # fmt: skip
    for concept in memory["domain"]["concepts"]:
        out.append(
            Finding("missing_in_shadow", "domain_concepts", f"{pid}/{concept}", None,
                    "domain.concepts[]", "memory", {}, None)
        )  # fmt: skip
    return out


def build(total: int, seed: int = 7) -> AuditResult:
    rng = random.Random(seed)
    findings: list[Finding] = []
    i = 0
    while len(findings) < total:
        if i % 10 == 0:
            findings += deleted(f"proj-{i:06d}")
        elif i % 97 == 0:
            findings.append(
                Finding("invalid_source", "manifest", f"proj-{i:06d}", None,
                        f"/srv/app/workspaces/proj-{i:06d}/project_manifest.json", "manifest",
                        detail=["/status/projectPhase: 'DONE' is not one of ['PLANNING', ...]"])
            )  # fmt: skip
        else:
            findings += drifted(i, rng)
        i += 1
    findings = findings[:total]
    return AuditResult(
        source="/srv/app/workspaces", shadow="/srv/app/.vibe/state/vibe_agency.db",
        started_at="2026-01-02T03:00:00Z", finished_at="2026-01-02T03:04:06Z",
        summary={t: EntitySummary(t, i * 4, i * 4, i * 3, i // 2, i // 3, i // 4) for t in TABLES},
        findings=tuple(findings), coverage=Coverage(), documents=i,
    )  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--findings", type=int, default=146_000)
    parser.add_argument("--out", default="/tmp/report-scale")
    args = parser.parse_args()
    out = Path(args.out)
    shutil.rmtree(out, ignore_errors=True)
    result = build(args.findings)
    t0 = time.perf_counter()
    # as with a history: the previous run was clean, so every finding is new
    delta = Delta(1, new=tuple((f.identity, result.finished_at) for f in result.findings))
    context = ReportContext(run_id=2, delta=delta)
    published = publish(result, out, ["json", "md", "html", "junit", "prom"], context)
    seconds = time.perf_counter() - t0
    print(f"{len(result.findings)} findings, {result.documents} documents; published in "
          f"{seconds:.2f}s")  # fmt: skip
    total = 0
    for path in published.files:
        size = path.stat().st_size
        total += size
        print(f"  {path.name:<20} {size:>12,} bytes")
    print(
        f"  {'run folder':<20} {total:>12,} bytes ({total / len(result.findings):.1f} per finding)"
    )
    print(f"open {out / 'report.html'}")


if __name__ == "__main__":
    main()
