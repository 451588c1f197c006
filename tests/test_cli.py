"""The CLI as a user runs it: a subprocess, exit codes, stdout and stderr."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import run_cli

COMMANDS = ["validate", "backfill", "audit", "demo"]


run = run_cli


@pytest.mark.parametrize("command", COMMANDS)
def test_every_command_has_help(command):
    result = run(command, "--help")
    assert result.returncode == 0
    assert f"usage: shadow-audit {command}" in result.stdout


def test_unknown_command_is_a_usage_error():
    result = run("frobnicate")
    assert result.returncode == 2
    assert "invalid choice" in result.stderr


def test_validate_fixtures_lists_errors_only_for_invalid_files(vibe_fixtures: Path):
    files = sorted(str(p) for p in vibe_fixtures.glob("*.json"))
    result = run("validate", *files)
    assert result.returncode == 1
    named = {line.split(": ", 1)[0] for line in result.stdout.splitlines()}
    invalid = {
        f
        for f in files
        if Path(f).name.split("__")[0]
        in {"018e45f7", "3094d744", "33ee36f3", "76a34d2f", "d6ff83fc", "e2decd95"}
    }
    assert named == invalid
    assert "12 files: 6 valid, 6 invalid" in result.stderr


def test_validate_directory_of_valid_documents_exits_0(store):
    result = run("validate", str(store.source))
    assert result.returncode == 0, result.stdout
    assert "10 files: 10 valid, 0 invalid" in result.stderr


def test_unparseable_file_reports_line_and_column(tmp_path):
    bad = tmp_path / "project_manifest.json"
    bad.write_text('{\n  "apiVersion": "x",\n  oops\n}\n')
    result = run("validate", str(bad))
    assert result.returncode == 1
    assert f"{bad}: not valid JSON at line 3, column 3" in result.stdout
    assert "Traceback" not in result.stderr


def test_missing_path_is_exit_2_with_one_line(tmp_path):
    result = run("validate", str(tmp_path / "nope.json"))
    assert result.returncode == 2
    assert (
        result.stderr.strip() == f"shadow-audit: {tmp_path / 'nope.json'}: no such file or folder"
    )


def test_kind_cannot_be_guessed_without_flag(tmp_path, project):
    other = tmp_path / "doc.json"
    other.write_text("{}")
    result = run("validate", str(other))
    assert result.returncode == 2
    assert "pass --kind" in result.stderr
    result = run("validate", "--kind", "memory", str(other))
    assert result.returncode == 1
    assert f"{other}: /: 'project_id' is a required property" in result.stdout
