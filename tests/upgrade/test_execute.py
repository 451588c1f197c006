"""Executing an upgrade: through the dual writer (the shadow follows), before-images
first, refused documents untouched, idempotent."""

from __future__ import annotations

import copy
import json
import os
import stat
from pathlib import Path
from typing import Any

from shadow_audit.dualwrite import DualWriter
from shadow_audit.engine.run import audit
from shadow_audit.stores.json_store import JsonStore
from shadow_audit.stores.sqlite_shadow import SqliteShadow
from shadow_audit.synth import make_projects
from shadow_audit.upgrade import execute_upgrade, plan_upgrade, upgrade
from tests.upgrade.legacy import grow_gad501, place


def legacy_store(root: Path, *, refused: bool = False) -> dict[str, Any]:
    """Three projects written by the writer, then made legacy the way the reference's
    history has them: a null sub-state (proj-000000), an updatedAt and unknown keys
    (proj-000001), a GAD-501 memory (proj-000002). With ``refused``: a v0 manifest too."""
    source = root / "workspaces"
    source.mkdir(parents=True)
    os.chmod(source, 0o750)
    writer = DualWriter(JsonStore(source), SqliteShadow(root / "shadow.db"))
    projects = make_projects(3, seed=11, sessions=3, concepts=3, concerns=2)
    for manifest, memory in projects:
        writer.save_project(manifest, memory)
    m0 = copy.deepcopy(projects[0][0])
    m0["status"]["planningSubState"] = None
    place(source, "proj-000000", m0)
    m1 = copy.deepcopy(projects[1][0])
    m1["metadata"]["updatedAt"] = m1["metadata"].pop("lastUpdatedAt")
    m1["research_metadata"] = {"research_agents": ["MARKET_RESEARCHER", "FACT_VALIDATOR"]}
    place(source, "proj-000001", m1)
    memory = grow_gad501(5, intents=False)
    del memory["user_intents"]
    (source / "proj-000002" / ".vibe" / "project_memory.json").unlink()  # the writer's
    place(source, "proj-000002", memory, "project_memory.json")
    if refused:
        place(
            source,
            "agency_toolkit",
            {
                "project_id": "agency_toolkit_001",
                "project_name": "Agency Toolkit",
                "created_at": "2025-11-13T16:23:00Z",
                "current_state": "PLANNING",
            },
        )
    return {"source": source, "db": root / "shadow.db", "out": root / "reports"}


def snapshot(source: Path) -> dict[str, bytes]:
    return {
        p.relative_to(source).as_posix(): p.read_bytes() for p in sorted(source.rglob("*.json"))
    }


def test_execute_writes_through_the_dual_writer_and_the_audit_is_green(tmp_path: Path) -> None:
    s = legacy_store(tmp_path)
    before = snapshot(s["source"])
    report = upgrade(s["source"], execute=True, shadow=s["db"], before_images=s["out"])
    assert report.exit_code == 0
    assert report.outcome is not None and report.outcome.held_back == ()
    assert sorted(p.relative_to(s["source"]).as_posix() for p in report.outcome.written) == [
        "proj-000000/project_manifest.json",
        "proj-000001/project_manifest.json",
        "proj-000002/project_memory.json",
    ]
    m1 = json.loads((s["source"] / "proj-000001" / "project_manifest.json").read_bytes())
    assert "lastUpdatedAt" in m1["metadata"] and "research_metadata" not in m1
    assert (
        m1["spec"]["vibe"]["x-upgrade"]["moved"]["/research_metadata"]["research_agents"][1]
        == "FACT_VALIDATOR"
    )
    memory = json.loads((s["source"] / "proj-000002" / "project_memory.json").read_bytes())
    assert memory["_schema_version"] == "1.0" and len(memory["narrative"]) == 5
    result = audit(s["source"], s["db"])
    assert result.status == "GREEN", [(f.kind, f.key, f.field) for f in result.findings]
    # before-images: the bytes as they were, no wider than the source folder
    images = report.outcome.before_images
    assert images is not None and images.parent == s["out"]
    kept = {p.relative_to(images).as_posix(): p.read_bytes() for p in images.rglob("*.json")}
    assert kept == {k: before[k] for k in kept}
    assert set(kept) >= {"proj-000000/project_manifest.json", "proj-000002/project_memory.json"}
    source_mode = stat.S_IMODE(s["source"].stat().st_mode)
    for p in [images, *images.rglob("*")]:
        assert stat.S_IMODE(p.stat().st_mode) & ~source_mode == 0, p


def test_a_second_run_has_nothing_to_do(tmp_path: Path) -> None:
    s = legacy_store(tmp_path)
    upgrade(s["source"], execute=True, shadow=s["db"], before_images=s["out"])
    after_first = snapshot(s["source"])
    dry = upgrade(s["source"])
    assert dry.exit_code == 0 and dry.plan.to_write == [] and dry.plan.refused == []
    again = upgrade(s["source"], execute=True, shadow=s["db"], before_images=s["out"])
    assert again.exit_code == 0 and again.outcome is not None
    assert again.outcome.written == () and again.outcome.before_images is None
    assert snapshot(s["source"]) == after_first
    assert len(list(s["out"].iterdir())) == 1  # the first run's before-images only


def test_refused_documents_are_listed_and_left_untouched(tmp_path: Path) -> None:
    s = legacy_store(tmp_path, refused=True)
    before = snapshot(s["source"])
    report = upgrade(s["source"], execute=True, shadow=s["db"], before_images=s["out"])
    assert report.exit_code == 1
    (refused,) = report.plan.refused
    assert refused.unit == "agency_toolkit"
    assert any("'owner' is a required property" in r for r in refused.upgrade.refusals)
    assert (
        snapshot(s["source"])["agency_toolkit/project_manifest.json"]
        == before["agency_toolkit/project_manifest.json"]
    )
    assert report.outcome is not None and len(report.outcome.written) == 3


def test_a_document_changed_since_the_plan_is_held_back(tmp_path: Path) -> None:
    s = legacy_store(tmp_path)
    plan = plan_upgrade(s["source"])
    path = s["source"] / "proj-000000" / "project_manifest.json"
    changed = json.loads(path.read_bytes())
    changed["status"]["message"] = "the application saved in between"
    path.write_text(json.dumps(changed))
    writer = DualWriter(JsonStore(s["source"]), SqliteShadow(s["db"]))
    outcome = execute_upgrade(plan, writer, before_images=s["out"])
    assert [(p, r.split(":")[-1].strip()) for p, r in outcome.held_back] == [
        (path, "changed since it was read")
    ]
    assert json.loads(path.read_bytes()) == changed
    assert len(outcome.written) == 2


def test_a_memory_in_dot_vibe_is_never_copied_to_a_second_place(tmp_path: Path) -> None:
    s = legacy_store(tmp_path)
    legacy = s["source"] / "proj-000002" / "project_memory.json"
    dot_vibe = s["source"] / "proj-000002" / ".vibe" / "project_memory.json"
    dot_vibe.parent.mkdir(exist_ok=True)
    legacy.rename(dot_vibe)
    report = upgrade(s["source"], execute=True, shadow=s["db"], before_images=s["out"])
    assert report.outcome is not None
    if dot_vibe in report.outcome.written:  # a writer that writes where the reference does
        assert json.loads(dot_vibe.read_bytes())["_schema_version"] == "1.0"
    else:
        assert [p for p, _ in report.outcome.held_back] == [dot_vibe]
        assert report.exit_code == 1
    assert not legacy.exists()


def test_the_report_is_data_too(tmp_path: Path) -> None:
    s = legacy_store(tmp_path, refused=True)
    data = json.loads(json.dumps(upgrade(s["source"]).to_dict()))
    assert data["mode"] == "dry-run" and data["exit_code"] == 1
    by_path = {d["path"]: d for d in data["documents"]}
    assert by_path["proj-000000/project_manifest.json"]["status"] == "upgraded"
    assert by_path["proj-000000/project_manifest.json"]["notes"] == [
        {
            "step": "null-substate@1",
            "action": "dropped",
            "source": "/status/planningSubState",
            "target": None,
            "detail": "null means no sub-state; the schema says that by leaving the key out",
            "value": None,
        }
    ]
    assert by_path["agency_toolkit/project_manifest.json"]["status"] == "refused"
    assert by_path["proj-000002/project_manifest.json"]["status"] == "current"
