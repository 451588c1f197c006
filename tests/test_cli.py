"""The CLI as a user runs it: a subprocess, exit codes, stdout and stderr."""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path

import orjson
import pytest

from shadow_audit.cli import build_parser, main
from shadow_audit.cli.options import EXIT_CODES
from tests.conftest import audit_cli, audit_main, run_cli

run = run_cli


def _subcommands() -> dict[str, argparse.ArgumentParser]:
    """Every command a user can run, by its words: nested steps (``cutover status``) are
    commands of their own, the group that holds them is not."""
    found: dict[str, argparse.ArgumentParser] = {}

    def walk(parser: argparse.ArgumentParser, words: str) -> None:
        groups = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
        if not groups and words:
            found[words] = parser
        for group in groups:
            for name, child in group.choices.items():
                walk(child, f"{words} {name}".strip())

    walk(build_parser(), "")
    return found


COMMANDS = sorted(_subcommands())


def test_the_help_test_sees_every_command():
    assert {
        "validate",
        "backfill",
        "audit",
        "history",
        "gate",
        "repair",
        "demo",
        "upgrade",
        "cutover status",
        "cutover advance",
        "cutover rollback",
        "export",
    } <= set(COMMANDS)


def _main(capsys, *args: str) -> tuple[int, str, str]:
    """``main(args)`` in this process (for loops over every command; the subprocess tests
    below show that the installed command behaves the same)."""
    try:
        code = main(list(args))
    except SystemExit as exc:
        code = int(exc.code or 0)
    out, err = capsys.readouterr()
    return code, out, err


@pytest.mark.parametrize("command", COMMANDS)
def test_every_command_has_help_with_its_defaults_and_the_exit_codes(capsys, command):
    code, out, _ = _main(capsys, *command.split(), "--help")
    assert code == 0
    assert out.startswith(f"usage: shadow-audit {command}")
    shown = " ".join(out.split())  # help text wraps lines
    for action in _subcommands()[command]._actions:
        if action.option_strings and action.default not in (None, False, argparse.SUPPRESS):
            assert f"(default: {action.default})" in shown, action.dest
    assert " ".join(EXIT_CODES.split()) in shown


@pytest.mark.parametrize("command", COMMANDS)
def test_every_option_that_takes_a_value_says_what_it_is_by_default(capsys, command):
    """Also those without a value of their own (``--keep``: keep all): the help says so."""
    code, out, _ = _main(capsys, *command.split(), "--help")
    assert code == 0
    shown = " ".join(out.split())
    parser = _subcommands()[command]
    formatter = parser._get_formatter()
    for action in parser._actions:
        if not action.option_strings or action.required or action.nargs == 0:
            continue  # positionals, required options, flags (off unless given)
        text = " ".join(formatter._expand_help(action).split())
        assert "(default: " in text, f"{command} {action.option_strings[0]}: {text!r}"
        assert text in shown


@pytest.mark.parametrize(
    ("command", "default"),
    [("history", "(default: reports/history.db)"), ("gate", "(default: reports)")],
)
def test_help_shows_defaults_in_the_installed_command(command, default):
    result = run(command, "--help")
    assert result.returncode == 0
    assert default in " ".join(result.stdout.split())


def test_top_level_help_documents_the_exit_codes():
    result = run("--help")
    assert result.returncode == 0
    assert "3  internal error" in result.stdout


def test_unknown_command_is_a_usage_error():
    result = run("frobnicate")
    assert result.returncode == 2
    assert "invalid choice" in result.stderr


@pytest.mark.parametrize("command", COMMANDS)
def test_unknown_flag_prints_the_subcommands_usage(capsys, command):
    required = [
        arg
        for action in _subcommands()[command]._actions
        if action.required
        for arg in ([action.option_strings[0]] if action.option_strings else []) + ["x"]
    ]
    code, _, err = _main(capsys, *command.split(), *required, "--frobnicate")
    assert code == 2
    assert err.startswith(f"usage: shadow-audit {command}")
    assert f"shadow-audit {command}: error: unrecognized arguments: --frobnicate" in err


def test_unknown_flag_in_the_installed_command_prints_the_subcommands_usage():
    result = run("history", "--frobnicate")
    assert result.returncode == 2
    assert result.stderr == (
        "usage: shadow-audit history [-h] [--history HISTORY] [--limit LIMIT]\n"
        "shadow-audit history: error: unrecognized arguments: --frobnicate\n"
    )


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["audit", "--workers", "0"], "argument --workers: 0 is not a whole number >= 1"),
        (["audit", "--workers", "-1"], "argument --workers: -1 is not a whole number >= 1"),
        (["audit", "--keep", "0"], "argument --keep: 0 is not a whole number >= 1"),
        (["audit", "--keep", "two"], "argument --keep: 'two' is not a whole number"),
        (["audit", "--format", "md,pdf"], "argument --format: unknown pdf (known: "),
        (["audit", "--format", ","], "argument --format: unknown ','"),
        (["audit", "--history", "."], "argument --history: . is a folder, not a file"),
        (["history", "--limit", "0"], "argument --limit: 0 is not a whole number >= 1"),
        (["gate", "--now", "yesterday"], "argument --now: 'yesterday' is not an ISO date-time"),
        (["demo", "--projects", "-3"], "argument --projects: -3 is not a whole number >= 1"),
    ],
)
def test_a_bad_option_is_one_line_exit_2_before_anything_is_written(
    tmp_path, monkeypatch, capsys, args, message
):
    monkeypatch.chdir(tmp_path)
    command, *rest = args
    required = {
        "audit": ["--source", str(tmp_path), "--shadow", str(tmp_path / "s.db")],
        "demo": ["--dir", str(tmp_path / "demo")],
    }.get(command, [])
    out = ["--out", str(tmp_path / "out")] if command in ("audit", "gate") else []
    code, _, err = _main(capsys, command, *required, *out, *rest)
    assert code == 2
    assert err.startswith(f"shadow-audit {command}: error: {message}")
    assert len(err.strip().splitlines()) == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == []  # no --out, no reports/, no history


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["gate", "--now", "yesterday"], "argument --now: 'yesterday' is not an ISO date-time"),
        (["audit", "--workers", "0"], "argument --workers: 0 is not a whole number >= 1"),
    ],
)
def test_the_installed_command_rejects_a_bad_option_in_one_line(tmp_path, args, message):
    result = run(*args, cwd=tmp_path)
    assert result.returncode == 2
    assert result.stderr.startswith(f"shadow-audit {args[0]}: error: {message}")
    assert len(result.stderr.strip().splitlines()) == 1
    assert list(tmp_path.iterdir()) == []


def test_keep_zero_records_nothing_in_an_existing_history(store, tmp_path):
    out = tmp_path / "out"
    first = audit_main(store.source, store.db, out, "--history", str(tmp_path / "h.db"))
    assert first.returncode == 0, first.stderr
    before = {p: p.read_bytes() for p in [tmp_path / "h.db", *out.rglob("*")] if p.is_file()}
    again = audit_cli(
        store.source, store.db, out, "--history", str(tmp_path / "h.db"), "--keep", "0"
    )
    assert again.returncode == 2
    after = {p: p.read_bytes() for p in [tmp_path / "h.db", *out.rglob("*")] if p.is_file()}
    assert after == before


def test_gate_now_is_read_with_and_without_an_offset(store, tmp_path):
    for now in ("2026-05-01T12:00:00Z", "2026-05-01T12:00:00", "2026-05-01"):
        args = ["--shadow", str(store.db), "--now", now, "--out", str(tmp_path / "g")]
        result = run("gate", *args, cwd=tmp_path)
        assert result.returncode == 1, result.stderr  # an empty history is NOT READY
        decided = orjson.loads((tmp_path / "g" / "gate.json").read_bytes())["decided_at"]
        assert decided.startswith("2026-05-01T")


def test_backfill_into_a_file_that_is_not_sqlite_is_one_line(tmp_path, store):
    notadb = tmp_path / "notadb.db"
    notadb.write_text("hello, I am a text file\n")
    result = run("backfill", "--source", str(store.source), "--shadow", str(notadb))
    assert result.returncode == 2
    assert result.stderr == (
        f"shadow-audit: database {notadb}: cannot open as SQLite: file is not a database\n"
    )
    assert notadb.read_text() == "hello, I am a text file\n"


# --- validate ------------------------------------------------------------------


def test_validate_fixtures_lists_errors_only_for_invalid_files(vibe_fixtures: Path):
    files = sorted(str(p) for p in vibe_fixtures.glob("*.json"))
    result = run("validate", *files)
    assert result.returncode == 1
    named = {line.split(": ", 1)[0] for line in result.stdout.splitlines()[:-1]}
    invalid = {
        f
        for f in files
        if Path(f).name.split("__")[0]
        in {"018e45f7", "3094d744", "33ee36f3", "76a34d2f", "d6ff83fc", "e2decd95"}
    }
    assert named == invalid
    assert result.stdout.splitlines()[-1] == "12 files: 6 valid, 6 invalid"


def test_validate_directory_of_valid_documents_exits_0_summary_on_stdout(store):
    result = run("validate", str(store.source))
    assert result.returncode == 0, result.stdout
    assert result.stdout == "10 files: 10 valid, 0 invalid\n"
    assert result.stderr == ""


def test_validate_one_file_says_one_file(store):
    result = run("validate", str(store.manifest_path("proj-000000")))
    assert result.returncode == 0, result.stderr
    assert result.stdout == "1 file: 1 valid, 0 invalid\n"


def test_validate_an_empty_folder_is_exit_2_no_documents_found(tmp_path):
    (tmp_path / "notes.txt").write_text("not a document")
    result = run("validate", str(tmp_path))
    assert result.returncode == 2
    assert result.stderr == (
        f"shadow-audit: {tmp_path}: no documents found (looked for *manifest.json, *memory.json)\n"
    )
    assert result.stdout == ""


def test_unparseable_file_reports_line_and_column(tmp_path):
    bad = tmp_path / "project_manifest.json"
    bad.write_text('{\n  "apiVersion": "x",\n  oops\n}\n')
    result = run("validate", str(bad))
    assert result.returncode == 1
    assert f"{bad}: not valid JSON at line 3, column 3" in result.stdout
    assert result.stdout.count(str(bad)) == 1
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


def test_control_characters_in_printed_paths_are_made_visible(tmp_path, project):
    folder = tmp_path / "ws\x1b[32mGREEN\x1b[0m\rx"
    folder.mkdir()
    manifest, _ = project()
    manifest["kind"] = "Mission"
    (folder / "project_manifest.json").write_bytes(orjson.dumps(manifest))
    result = run("validate", str(tmp_path))
    assert result.returncode == 1
    assert "\x1b" not in result.stdout and "\r" not in result.stdout
    assert "ws\\e[32mGREEN\\e[0m\\rx/project_manifest.json: /kind:" in result.stdout


# --- internal errors -----------------------------------------------------------

# A bug cannot be provoked through a real path: every real path we know of is fixed. So the
# test plants one: a sitecustomize module, on PYTHONPATH in the child process only, replaces
# a library function with one that raises as a bug would. The product has no hook for this.
BUG = """
import shadow_audit.report.history as history


def runs(self, limit=None):
    raise RuntimeError("a planted bug \\x1b[31m")


history.History.runs = runs
"""


def test_an_unexpected_error_is_exit_3_internal_error_with_the_traceback(tmp_path):
    (tmp_path / "plant").mkdir()
    (tmp_path / "plant" / "sitecustomize.py").write_text(BUG)
    env = {**os.environ, "PYTHONPATH": str(tmp_path / "plant")}
    result = subprocess.run(
        [sys.executable, "-m", "shadow_audit.cli", "history", "--history", str(tmp_path / "h.db")],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env=env,
        timeout=300,
    )
    assert result.returncode == 3
    assert result.stderr.startswith("Traceback (most recent call last):")
    lines = result.stderr.strip().splitlines()
    assert lines[-2] == "shadow-audit: internal error: RuntimeError: a planted bug \\e[31m"
    assert lines[-1].startswith("shadow-audit: this is a bug in shadow-audit")


def test_audit_prints_keys_with_control_characters_made_visible(store, tmp_path):
    evil = "proj-000000\x1b[2J\x1b[32m GREEN\r"
    cols = [
        r[1] for r in store.sql("PRAGMA table_info(missions)") if r[1] not in ("id", "mission_uuid")
    ]
    copied = ", ".join(cols)
    store.sql(
        f"INSERT INTO missions (mission_uuid, {copied}) SELECT ?, {copied} FROM missions LIMIT 1",
        evil,
    )  # a project only the shadow has, with a key that would rewrite the terminal
    result = audit_cli(store.source, store.db, tmp_path / "out", "--no-history")
    assert result.returncode == 1
    assert "\x1b" not in result.stdout and "\r" not in result.stdout
    assert (
        "  extra_in_shadow    proj-000000\\e[2J\\e[32m GREEN\\r: only in the shadow: 1 row in 1 table\n"
        in result.stdout
    )


def test_log_lines_show_control_characters_made_visible():
    import logging

    from shadow_audit.cli.terminal import VisibleFormatter

    record = logging.makeLogRecord(
        {
            "msg": "shadow write for %s failed",
            "args": ("proj\x1b[2J\n# GREEN",),
            "levelname": "WARNING",
        }
    )
    line = VisibleFormatter("%(levelname)s: %(message)s").format(record)
    assert line == "WARNING: shadow write for proj\\e[2J\\n# GREEN failed"


def test_backfill_without_shadow_writes_the_reference_systems_database(store, tmp_path):
    result = run("backfill", "--source", str(store.source), cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "5 units into .vibe/state/vibe_agency.db: 5 imported" in result.stdout
    assert (tmp_path / ".vibe" / "state" / "vibe_agency.db").is_file()


def test_debug_shows_the_traceback_and_keeps_the_exit_code(tmp_path):
    result = run("--debug", "validate", str(tmp_path / "nope.json"))
    assert result.returncode == 2
    assert result.stderr.startswith("Traceback (most recent call last):")
    assert result.stderr.endswith(
        f"shadow-audit: {tmp_path / 'nope.json'}: no such file or folder\n"
    )


@pytest.mark.slow
def test_demo_points_to_the_red_run_and_the_green_one(tmp_path):
    result = run("demo", "--dir", str(tmp_path / "d"), "--projects", "5")
    assert result.returncode == 0, result.stdout + result.stderr
    lines = result.stdout.splitlines()
    red = Path(lines[-2].removeprefix("open the RED run's report: "))
    green = Path(lines[-1].removeprefix("and the GREEN one after repair: "))
    assert orjson.loads((red.parent / "report.json").read_bytes())["status"] == "RED"
    assert orjson.loads((green.parent / "report.json").read_bytes())["status"] == "GREEN"
    assert red.is_file() and green.is_file()


def test_a_reader_that_goes_away_is_an_io_error_not_a_bug(tmp_path):
    """`shadow-audit ... | head -1`: the closed pipe is exit 2 with one line, no traceback."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "shadow_audit.cli", "demo", "--dir", str(tmp_path / "d")],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=tmp_path,
    )
    assert proc.stdout is not None and proc.stderr is not None
    proc.stdout.readline()
    proc.stdout.close()  # the reader goes away after the first line
    err = proc.stderr.read()
    assert proc.wait(timeout=300) == 2, err
    assert "Traceback" not in err and "internal error" not in err
    assert "broken pipe" in err


# --- what a person reads: keys as the audit named them, numbers in order ----------


def _sessions_run_while_the_shadow_writer_was_off(store, workspace: str, n: int) -> None:
    """``n`` sessions appended to the memory by the reference code itself, out of band: the
    shadow misses them (keys past 9, so text order and number order differ)."""
    import random

    from tests.reference_growth import Clock, grow

    rng = random.Random(5)
    grow(store.source / workspace, n, rng, Clock(rng))


def test_the_audit_lists_mismatches_first_and_a_deleted_project_as_one_line(store, tmp_path):
    """Sessions the shadow missed in proj-000001 (20 findings), an owner changed in the
    shadow of proj-000003, the workspace of proj-000004 deleted (12 rows left behind)."""
    import shutil

    _sessions_run_while_the_shadow_writer_was_off(store, "proj-000001", 9)
    store.sql("UPDATE missions SET owner = 'mallory' WHERE mission_uuid = 'proj-000003'")
    shutil.rmtree(store.source / "proj-000004")
    result = audit_cli(store.source, store.db, tmp_path / "out")
    assert result.returncode == 1, result.stderr
    lines = result.stdout.splitlines()
    assert (
        lines[0] == "RED: 4 documents, 5 value_mismatch, 16 missing_in_shadow, 12 extra_in_shadow"
    )
    assert lines[1:8] == [
        "  value_mismatch     trajectory proj-000001 completed_phases",
        "  value_mismatch     trajectory proj-000001 current_focus",
        "  value_mismatch     trajectory proj-000001 extra",
        "  ...                proj-000001: 17 more findings",
        "  value_mismatch     missions proj-000003 owner",
        "  extra_in_shadow    proj-000004: only in the shadow: 12 rows in 5 tables",
        "  every finding is in the report",
    ]


def test_the_repair_plan_names_rows_as_the_audit_did_on_a_reference_v2_database(tmp_path):
    """A v2 database keys narrative rows by session number (1, 2, ...); the migration that
    ``repair --execute --migrate`` runs first gives them list positions (0, 1, ...). The plan
    must name the rows as the audit the user read did, and list them in number order."""
    from tests.conftest import make_store

    store = make_store(tmp_path, 3, reference_v2=True)
    _sessions_run_while_the_shadow_writer_was_off(store, "proj-000001", 9)
    audited = audit_cli(store.source, store.db, tmp_path / "out")
    assert audited.returncode == 1, audited.stderr
    report = orjson.loads((tmp_path / "out" / "report.json").read_bytes())
    missing = [
        f["key"] for f in report["findings"]
        if (f["kind"], f["entity"]) == ("missing_in_shadow", "session_narrative")
    ]  # fmt: skip
    assert sorted(missing) == sorted(f"proj-000001/{n}" for n in range(5, 14))  # sessions 5..13

    def planned(*flags: str) -> list[str]:
        result = run(
            "repair", "--source", str(store.source), "--shadow", str(store.db),
            "--out", str(tmp_path / "r"), *flags,
        )  # fmt: skip
        assert result.returncode in (0, 1), result.stderr
        return [
            line.split()[2]
            for line in result.stdout.splitlines()
            if line.startswith("  INSERT session_narrative ")
        ]

    in_number_order = [f"proj-000001/{n}" for n in range(5, 14)]
    assert planned() == in_number_order  # dry run: nothing migrated
    assert planned("--execute", "--migrate") == in_number_order


def test_repair_of_a_clean_store_says_nothing_to_repair_once(store, tmp_path):
    for flags in ((), ("--execute",)):
        result = run(
            "repair", "--source", str(store.source), "--shadow", str(store.db),
            "--out", str(tmp_path / "r"), *flags,
        )  # fmt: skip
        assert result.returncode == 0, result.stderr
        assert result.stdout == "plan: nothing to repair\n"


def test_the_history_may_live_in_the_out_folder_the_run_makes_but_a_typo_makes_nothing(
    store, tmp_path
):
    out = tmp_path / "rep"
    inside = audit_cli(store.source, store.db, out, "--history", str(out / "h.db"))
    assert inside.returncode == 0, inside.stderr
    assert (out / "h.db").is_file()
    typo = tmp_path / "rpe" / "h.db"
    other = audit_cli(store.source, store.db, tmp_path / "rep2", "--history", str(typo))
    assert other.returncode == 2
    assert other.stderr == (
        f"shadow-audit: --history {typo}: the folder {typo.parent} does not exist "
        "(make it first, or fix the path)\n"
    )
    assert not typo.parent.exists() and not (tmp_path / "rep2").exists()
