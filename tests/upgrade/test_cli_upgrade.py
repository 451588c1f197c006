"""``shadow-audit upgrade`` and ``validate`` as a user runs them: exit codes, output, bad input."""

from __future__ import annotations

import json
from pathlib import Path

from shadow_audit.synth import make_projects
from tests.conftest import run_cli
from tests.upgrade.legacy import fixture_files, place, place_fixture

NULL_SUBSTATE = "76a34d2f"


def current_store(source: Path) -> None:
    for manifest, _ in make_projects(2, seed=4):
        place(source, manifest["metadata"]["projectId"], manifest)


def null_substate_store(source: Path) -> Path:
    current_store(source)
    manifest = make_projects(3, seed=4)[2][0]
    manifest["status"]["planningSubState"] = None
    return place(source, "legacy", manifest)


def test_dry_run_prints_the_diff_and_what_is_dropped_and_exits_1(tmp_path: Path) -> None:
    path = null_substate_store(tmp_path / "src")
    before = path.read_bytes()
    done = run_cli("upgrade", "--source", str(tmp_path / "src"))
    assert done.returncode == 1, done.stderr
    out = done.stdout.splitlines()
    assert "legacy/project_manifest.json: null-substate@1" in out
    assert any(
        line.startswith("  dropped /status/planningSubState = null: null means") for line in out
    )
    assert "--- legacy/project_manifest.json (as found)" in out
    assert '-    "planningSubState": null' in out
    assert out[-1] == "3 documents: 1 to upgrade, 2 current, 0 refused"
    assert path.read_bytes() == before  # a dry run writes nothing
    assert not (tmp_path / "reports").exists()


def test_explicit_dry_run_is_the_default(tmp_path: Path) -> None:
    null_substate_store(tmp_path / "src")
    plain = run_cli("upgrade", "--source", str(tmp_path / "src"))
    explicit = run_cli("upgrade", "--source", str(tmp_path / "src"), "--dry-run")
    assert (plain.returncode, plain.stdout) == (explicit.returncode, explicit.stdout)


def test_nothing_to_do_exits_0(tmp_path: Path) -> None:
    current_store(tmp_path / "src")
    done = run_cli("upgrade", "--source", str(tmp_path / "src"))
    assert done.returncode == 0, done.stdout
    assert done.stdout.splitlines()[-1] == "2 documents: 0 to upgrade, 2 current, 0 refused"


def test_execute_exits_0_then_the_second_run_has_nothing_to_do(tmp_path: Path) -> None:
    null_substate_store(tmp_path / "src")
    args = [
        "upgrade",
        "--source",
        str(tmp_path / "src"),
        "--execute",
        "--shadow",
        str(tmp_path / "shadow.db"),
        "--out",
        str(tmp_path / "reports"),
    ]
    first = run_cli(*args)
    assert first.returncode == 0, first.stdout + first.stderr
    assert any(
        line.startswith(f"before-images: {tmp_path / 'reports'}")
        for line in first.stdout.splitlines()
    )
    second = run_cli(*args)
    assert second.returncode == 0, second.stdout
    assert second.stdout.splitlines()[-1] == "3 documents: 0 upgraded, 3 current, 0 refused"
    assert run_cli("upgrade", "--source", str(tmp_path / "src")).returncode == 0


def test_execute_with_a_refused_document_exits_1_and_names_it(tmp_path: Path) -> None:
    null_substate_store(tmp_path / "src")
    v0 = place(
        tmp_path / "src",
        "old",
        {"project_id": "old-1", "project_name": "Old", "current_state": "PLANNING"},
    )
    before = v0.read_bytes()
    done = run_cli(
        "upgrade",
        "--source",
        str(tmp_path / "src"),
        "--execute",
        "--shadow",
        str(tmp_path / "shadow.db"),
        "--out",
        str(tmp_path / "reports"),
    )
    assert done.returncode == 1
    assert "refused old/project_manifest.json (left as it is):" in done.stdout.splitlines()
    assert (
        "  /metadata: 'owner' is a required property: nothing in the document can supply it; add it by hand"
        in done.stdout
    )
    assert v0.read_bytes() == before


def test_naive_timestamps_need_the_zone_and_the_zone_is_in_the_output(tmp_path: Path) -> None:
    manifest = make_projects(1, seed=4)[0][0]
    manifest["metadata"]["createdAt"] = "2025-11-20T09:06:31.293502"
    place(tmp_path / "src", "naive", manifest)
    without = run_cli("upgrade", "--source", str(tmp_path / "src"))
    assert without.returncode == 1
    assert "pass --assume-timezone TZ" in without.stdout
    with_zone = run_cli(
        "upgrade", "--source", str(tmp_path / "src"), "--assume-timezone", "Europe/Berlin"
    )
    assert with_zone.returncode == 1
    lines = with_zone.stdout.splitlines()
    assert "assumed timezone for naive timestamps: Europe/Berlin (--assume-timezone)" in lines
    assert '+    "createdAt": "2025-11-20T09:06:31.293502+01:00",' in lines
    assert '+        "assumed_timezone": "Europe/Berlin"' in lines


def test_a_bad_zone_is_exit_2_with_one_line(tmp_path: Path) -> None:
    current_store(tmp_path / "src")
    done = run_cli(
        "upgrade", "--source", str(tmp_path / "src"), "--assume-timezone", "Mars/Olympus"
    )
    assert done.returncode == 2 and done.stdout == ""
    assert done.stderr.splitlines() == [
        "shadow-audit: --assume-timezone 'Mars/Olympus': not a zoneinfo name (e.g. Europe/Berlin) "
        "or an offset (e.g. +01:00)"
    ]


def test_a_missing_source_is_exit_2_with_one_line(tmp_path: Path) -> None:
    done = run_cli("upgrade", "--source", str(tmp_path / "nowhere"))
    assert done.returncode == 2
    assert done.stderr.splitlines() == [
        f"shadow-audit: source folder {tmp_path / 'nowhere'}: not a readable folder"
    ]


def test_a_folder_without_documents_is_exit_2_as_in_validate(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    done = run_cli("upgrade", "--source", str(tmp_path / "empty"))
    assert done.returncode == 2
    assert done.stderr.splitlines() == [
        f"shadow-audit: {tmp_path / 'empty'}: no documents found "
        "(looked for */project_manifest.json)"
    ]


def test_unreadable_json_is_exit_2_naming_the_file_and_nothing_is_written(tmp_path: Path) -> None:
    legacy = null_substate_store(tmp_path / "src")
    before = legacy.read_bytes()
    broken = place(tmp_path / "src", "zz-broken", b'{"apiVersion": "agency.os/v1alpha1",')
    done = run_cli(
        "upgrade",
        "--source",
        str(tmp_path / "src"),
        "--execute",
        "--shadow",
        str(tmp_path / "shadow.db"),
        "--out",
        str(tmp_path / "reports"),
    )
    assert done.returncode == 2
    (line,) = done.stderr.splitlines()
    assert line.startswith(f"shadow-audit: {broken}: not valid JSON at line 1")
    assert legacy.read_bytes() == before and not (tmp_path / "shadow.db").exists()


def test_dry_run_and_execute_together_is_a_usage_error(tmp_path: Path) -> None:
    current_store(tmp_path / "src")
    done = run_cli("upgrade", "--source", str(tmp_path / "src"), "--dry-run", "--execute")
    assert done.returncode == 2 and "not allowed with argument" in done.stderr


def test_help_names_the_options() -> None:
    done = run_cli("upgrade", "--help")
    assert done.returncode == 0
    for option in ("--source", "--dry-run", "--execute", "--assume-timezone", "--shadow", "--out"):
        assert option in done.stdout


def test_validate_names_the_step_that_would_fix_a_legacy_document(tmp_path: Path) -> None:
    path = null_substate_store(tmp_path / "src")
    done = run_cli("validate", str(path))
    assert done.returncode == 1
    assert (
        f"{path}: fixed by upgrade step(s) null-substate@1 (shadow-audit upgrade --source DIR)"
        in done.stdout.splitlines()
    )


def test_validate_says_when_an_upgrade_still_leaves_work_by_hand(tmp_path: Path) -> None:
    manifest = make_projects(1, seed=4)[0][0]
    manifest["metadata"]["updatedAt"] = manifest["metadata"].pop("lastUpdatedAt")
    manifest["metadata"]["createdAt"] = "2025-11-20T09:06:31"
    del manifest["metadata"]["owner"]
    path = place(tmp_path / "src", "ws", manifest)
    done = run_cli("validate", str(path))
    assert done.returncode == 1
    assert (
        f"{path}: upgrade step(s) updated-at@1, naive-timestamps@1 apply (with --assume-timezone TZ), "
        "but it stays invalid: /metadata: 'owner' is a required property"
    ) in done.stdout


def test_validate_of_a_gad501_memory_names_the_memory_step(tmp_path: Path) -> None:
    from tests.upgrade.legacy import grow_gad501

    memory = grow_gad501(3, intents=False)
    del memory["user_intents"]
    path = place(tmp_path / "src", "ws", memory, "project_memory.json")
    done = run_cli("validate", str(path))
    assert done.returncode == 1
    assert (
        f"{path}: fixed by upgrade step(s) gad501-memory@1 (shadow-audit upgrade --source DIR)"
        in done.stdout
    )


def test_dry_run_over_the_fixtures(tmp_path: Path) -> None:
    files = fixture_files()
    if not files:
        import pytest

        pytest.skip("../shared/fixtures/vibe is not present on this machine")
    for fixture in files:
        place_fixture(tmp_path / "src", fixture)
    done = run_cli("upgrade", "--source", str(tmp_path / "src"))
    assert done.returncode == 1
    out = done.stdout.splitlines()
    assert f"{NULL_SUBSTATE}/project_manifest.json: null-substate@1" in out
    assert "e2decd95/project_manifest.json: unknown-keys@1" in out
    assert out[-1] == "12 documents: 2 to upgrade, 6 current, 4 refused"
    assert (
        json.loads((tmp_path / "src" / NULL_SUBSTATE / "project_manifest.json").read_bytes())[
            "status"
        ]["planningSubState"]
        is None
    )
