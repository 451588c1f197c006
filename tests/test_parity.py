"""assert_parity: the audit as one assertion, with a message that fits on a screen."""

from __future__ import annotations

import json
from datetime import date

import pytest

from shadow_audit.config import Config, IgnoreRule
from shadow_audit.errors import ConfigError
from shadow_audit.parity import assert_parity, build_config
from shadow_audit.profiles import REFERENCE
from tests.conftest import make_store


def test_assert_parity_ignore_and_tolerance(tmp_path):
    store = make_store(tmp_path, 2)
    store.sql("UPDATE missions SET max_cost_usd = max_cost_usd + 0.004")
    with pytest.raises(AssertionError, match="2 value_mismatch"):
        assert_parity(store.source, store.db)
    assert assert_parity(store.source, store.db, tolerance=0.01).status == "GREEN"
    assert assert_parity(store.source, store.db, ignore=["missions:budget.*"]).status == "GREEN"
    assert len(assert_parity(store.source, store.db, ignore=["missions:budget.*"]).ignored) == 2


def test_failure_message_fits_a_terminal(tmp_path):
    store = make_store(tmp_path, 5)
    store.sql("UPDATE session_narrative SET summary = 'x' || summary")
    with pytest.raises(AssertionError) as info:
        assert_parity(store.source, store.db)
    lines = str(info.value).splitlines()
    assert len(lines) <= 25
    assert max(len(line) for line in lines) <= 120
    assert lines[-1].startswith("... and ")


def test_a_green_store_returns_the_result(tmp_path):
    store = make_store(tmp_path, 2)
    result = assert_parity(store.source, store.db)
    assert result.status == "GREEN"
    assert result.documents == 2


def test_invalid_source_shows_the_file_and_its_reasons(tmp_path):
    """1 manifest without its fields (schema reasons), 1 memory that is not JSON."""
    store = make_store(tmp_path, 3)
    store.manifest_path("proj-000001").write_text('{"kind": "Project"}')
    store.memory_path("proj-000002").write_text("{")
    with pytest.raises(AssertionError) as info:
        assert_parity(store.source, store.db)
    text = str(info.value)
    assert text.startswith("shadow parity failed: 2 invalid_source (3 documents)")
    lines = text.splitlines()
    first = lines.index(
        "- invalid_source: proj-000001/project_manifest.json (manifest proj-000001)"
    )
    reasons = lines[first + 1 : first + 5]
    assert reasons[0] == "    /: 'apiVersion' is a required property"
    assert reasons[3].startswith("    ... and ") and reasons[3].endswith(" more reasons")
    second = lines.index(
        "- invalid_source: proj-000002/.vibe/project_memory.json (memory proj-000002)"
    )
    assert lines[second + 1].startswith("    not valid JSON at line 1, column 2")


def test_invalid_source_reasons_cannot_break_the_message(tmp_path):
    """A key with a newline and an escape sequence stays on its line, made visible."""
    store = make_store(tmp_path, 1)
    path = store.manifest_path("proj-000000")
    manifest = json.loads(path.read_text())
    manifest["status"]["projectPhase"] = "DONE\n\x1b[31mX"
    path.write_text(json.dumps(manifest))
    with pytest.raises(AssertionError) as info:
        assert_parity(store.source, store.db)
    reason = next(line for line in str(info.value).splitlines() if "projectPhase" in line)
    assert reason.startswith("    /status/projectPhase: 'DONE\\n")
    assert not any(c in str(info.value) for c in "\x1b\r")


def test_build_config_takes_what_a_test_has_at_hand(tmp_path):
    assert build_config().mapping is REFERENCE
    assert build_config(REFERENCE).mapping is REFERENCE
    config = Config(validate=False)
    assert build_config(config) is not config and build_config(config).validate is False
    toml = tmp_path / "shadow-audit.toml"
    toml.write_text("[audit]\nvalidate = false\n")
    assert build_config(toml).validate is False
    rule = IgnoreRule(entity="missions", path="metadata.owner", reason="known", expires=date.max)
    built = build_config(ignore=[rule, "trajectory:"])
    assert built.ignore[0] == rule
    assert (built.ignore[1].entity, built.ignore[1].path) == ("trajectory", "*")
    tolerant = build_config(tolerance=0.5).mapping.entity("missions").field("max_cost_usd")
    assert tolerant.abs_tol == 0.5


def test_build_config_rejects_a_tolerance_for_an_unknown_column(tmp_path):
    with pytest.raises(ConfigError, match="no column 'nosuch'"):
        build_config(tolerance={"missions.nosuch": {"abs": 1.0}})
    with pytest.raises(ConfigError, match="cannot read"):
        build_config(tmp_path / "nosuch.toml")
