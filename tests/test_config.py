"""The TOML config (shadow_audit.config): what it parses, and every mistake as one line naming
the file and the table or key, exit 2. Config only parses; it never imports the audit."""

from __future__ import annotations

import ast
import dataclasses
import json
from pathlib import Path

import pytest

from shadow_audit.config import CUTOVER_KEYS, GATE_KEYS, load_config
from shadow_audit.errors import ConfigError
from shadow_audit.gate import GatePolicy
from shadow_audit.store import CutoverPolicy
from tests.conftest import audit_cli, run_cli


def test_ignore_rule_in_config_lists_apart_and_expired_rule_does_not(tmp_path, store):
    out = tmp_path / "out"
    store.sql("UPDATE missions SET owner = 'x' WHERE mission_uuid = 'proj-000000'")
    config = tmp_path / "c.toml"
    config.write_text(
        '[[ignore]]\nentity = "missions"\npath = "metadata.owner"\nreason = "owner sync bug #12"\n'
        "expires = 2999-01-01\n"
        '[[ignore]]\nentity = "*"\npath = "*"\nreason = "old blanket rule"\nexpires = 2001-01-01\n'
    )
    run = audit_cli(
        store.source,
        store.db,
        out,
        "--config",
        str(config),
    )
    assert run.returncode == 0, run.stdout
    assert "1 finding ignored by active rules" in run.stdout
    report = json.loads((out / "report.json").read_text())
    assert report["findings"] == []
    (ignored,) = report["ignored_findings"]
    assert (ignored["field"], ignored["reason"], ignored["expires"]) == (
        "owner",
        "owner sync bug #12",
        "2999-01-01",
    )


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[audit\n", "not valid TOML"),
        ('[audit]\nprofile = "nope"\n', "audit.profile: unknown profile 'nope'"),
        ('[[ignore]]\nentity = "x"\n', "ignore[0]: reason is required"),
        ('[[ignore]]\nreason = "r"\nexpires = "soon"\n', "ignore[0].expires: 'soon' is not a date"),
        ('[tolerances]\n"missions.nope" = { abs = 1 }\n', "tolerances.missions.nope: table missions has no column 'nope'"),
        ('[source]\nprimary = { name = "d", pattern = "*.json" }\n[[entity]]\ntable = "t; DROP"\n'
         'document = "d"\nkey_column = "k"\n', "not a plain SQL identifier"),
        ('[source]\nprimary = { name = "d", pattern = "*.json" }\n[[entity]]\ntable = "t"\n'
         'document = "d"\nkey_column = "k"\nfields = [{ column = "c", path = "p", colour = "red" }]\n',
         "entity[0].fields[0]: unknown keys ['colour']"),
        ("[gates]\nmin_green_runs = 1\n", "unknown table [gates] (known: audit, source, entity, "),
        ('[tolerance]\n"missions.max_cost_usd" = { abs = 1 }\n', "unknown table [tolerance]"),
        ("[gate]\nmin_green_run = 1\n", "unknown key gate.min_green_run (known: min_green_runs, "),
        ("[audit]\nprofil = 'reference'\n", "unknown key audit.profil (known: profile, validate, settle)"),
        ('[[ignore]]\nentity = "*"\nreasons = "r"\nreason = "r"\nexpires = 2999-01-01\n',
         "unknown key ignore[0].reasons"),
        ('[ignore]\nentity = "*"\n', "ignore: write each rule as [[ignore]]"),
        ('gate = 3\n', "gate: must be a table, not int"),
        ("[cutover]\nread_samples = 0.5\n", "unknown key cutover.read_samples (known: read_sample, "),
        ('[[ignore]]\nentity = "sesion_narrative"\nreason = "r"\nexpires = 2999-01-01\n',
         "ignore[0].entity: 'sesion_narrative' names no table or document (known: missions, "),
        ('[source]\nprimary = { name = "d", pattern = "*.json" }\nnmae = "x"\n[[entity]]\n'
         'table = "t"\ndocument = "d"\nkey_column = "k"\n', "unknown key source.nmae"),
    ],
)  # fmt: skip
def test_config_errors_are_one_line_naming_the_file(tmp_path, text, message):
    config = tmp_path / "bad.toml"
    config.write_text(text)
    with pytest.raises(ConfigError) as raised:
        load_config(config)
    shown = str(raised.value)
    assert shown.startswith(f"config {config}: ")
    assert message in shown
    assert "\n" not in shown


@pytest.mark.parametrize("command", ["audit", "backfill", "gate", "repair"])
def test_a_misspelled_table_is_exit_2_in_every_command_that_reads_a_config(
    tmp_path, store, command
):
    config = tmp_path / "bad.toml"
    config.write_text("[gates]\nmin_green_runs = 1\n")
    stores = ["--source", str(store.source), "--shadow", str(store.db)]
    args = {
        "audit": [*stores, "--out", str(tmp_path / "o")],
        "backfill": stores,
        "gate": ["--shadow", str(store.db), "--out", str(tmp_path / "o")],
        "repair": stores,
    }[command]
    run = run_cli(command, *args, "--config", str(config))
    assert run.returncode == 2
    assert run.stderr == (
        f"shadow-audit: config {config}: unknown table [gates] "
        "(known: audit, source, entity, tolerances, ignore, gate, cutover)\n"
    )
    assert not (tmp_path / "o").exists()


def test_a_valid_config_parses_every_table(tmp_path):
    path = tmp_path / "ok.toml"
    path.write_text(
        '[audit]\nprofile = "reference"\nvalidate = false\n'
        '[tolerances]\n"missions.max_cost_usd" = { abs = 0.5 }\n'
        "[gate]\nmin_green_runs = 3\n"
        '[[ignore]]\nentity = "missions"\nreason = "r"\nexpires = 2999-01-01\n'
    )
    config = load_config(path)
    assert (config.validate, config.gate, config.path) == (False, {"min_green_runs": 3}, path)
    assert [r.entity for r in config.ignore] == ["missions"]
    cost = next(f for f in config.mapping.entity("missions").fields if f.column == "max_cost_usd")
    assert cost.abs_tol == 0.5


def test_unknown_table_is_a_config_error_in_the_library_too(tmp_path):
    path = tmp_path / "c.toml"
    path.write_text("[gates]\nmin_green_runs = 1\n")
    with pytest.raises(ConfigError, match=r"^config .*c\.toml: unknown table \[gates\]"):
        load_config(path)


def test_gate_keys_are_the_gate_policy_fields():
    assert set(GATE_KEYS) == {f.name for f in dataclasses.fields(GatePolicy)}


def test_cutover_keys_are_the_cutover_policy_fields():
    assert set(CUTOVER_KEYS) == {f.name for f in dataclasses.fields(CutoverPolicy)}


def test_config_does_not_import_the_audit_layer():
    import shadow_audit.config

    tree = ast.parse(Path(shadow_audit.config.__file__).read_text())
    imported = {
        node.module if isinstance(node, ast.ImportFrom) else alias.name
        for node in ast.walk(tree)
        if isinstance(node, ast.Import | ast.ImportFrom)
        for alias in node.names
    }
    assert "shadow_audit.config" not in imported
    assert sorted(m for m in imported if m and m.startswith("shadow_audit.engine")) == []
