"""The pytest plugin, driven through pytester: passing and failing suites, options, marker."""

from __future__ import annotations

import pytest

from shadow_audit.parity import assert_parity
from tests.conftest import make_store

SUITE = """
import sqlite3
from shadow_audit import assert_parity
from shadow_audit.synth import make_projects

def test_writer_keeps_parity(shadow_workspace):
    for manifest, memory in make_projects(3, seed=4, sessions=2):
        shadow_workspace.writer.save_project(manifest, memory)
    assert_parity(shadow_workspace.source, shadow_workspace.shadow)

def test_fixture_returns_a_result(shadow_workspace, shadow_audit):
    manifest, memory = make_projects(1, seed=4)[0]
    shadow_workspace.writer.save_project(manifest, memory)
    result = shadow_audit(shadow_workspace.source, shadow_workspace.shadow)
    assert result.status == "GREEN" and result.documents == 1
"""

DRIFT = """
import sqlite3
from shadow_audit import assert_parity
from shadow_audit.synth import make_projects

def test_drift_is_caught(shadow_workspace):
    for manifest, memory in make_projects(3, seed=4, sessions=2):
        shadow_workspace.writer.save_project(manifest, memory)
    conn = sqlite3.connect(shadow_workspace.shadow)
    conn.execute("UPDATE missions SET owner = 'mallory' WHERE mission_uuid = 'proj-000001'")
    conn.execute("DELETE FROM session_narrative WHERE session_num = 2")
    conn.commit()
    conn.close()
    assert_parity(shadow_workspace.source, shadow_workspace.shadow)
"""


def test_passing_suite(pytester):
    pytester.makepyfile(SUITE)
    result = pytester.runpytest_subprocess("-q")
    result.assert_outcomes(passed=2)


def test_failing_suite_shows_a_compact_message(pytester):
    pytester.makepyfile(DRIFT)
    result = pytester.runpytest_subprocess("-q")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        [
            "*AssertionError: shadow parity failed: 1 missing_in_shadow, 1 value_mismatch (3 documents)",
            "*top paths: session_narrative.narrative[[]#] (1), missions.metadata.owner (1)",
            "*- value_mismatch: missions proj-000001 owner*",
            "*    source: 'owner1@example.com'*",
            "*    shadow: 'mallory'*",
            "*    diff:   values_changed*",
        ]
    )


def test_marker_asserts_parity_of_the_configured_store(pytester, tmp_path):
    good = make_store(tmp_path / "good", 2)
    bad = make_store(tmp_path / "bad", 2)
    bad.sql("UPDATE missions SET owner = 'x'")
    pytester.makepyfile(
        """
        import pytest

        @pytest.mark.shadow_parity
        def test_uses_the_real_store():
            assert True
        """
    )
    ok = pytester.runpytest_subprocess(
        "-q", f"--shadow-audit-source={good.source}", f"--shadow-audit-shadow={good.db}"
    )
    ok.assert_outcomes(passed=1)
    fail = pytester.runpytest_subprocess(
        "-q", f"--shadow-audit-source={bad.source}", f"--shadow-audit-shadow={bad.db}"
    )
    fail.assert_outcomes(failed=1)
    fail.stdout.fnmatch_lines(["*shadow parity failed: 2 value_mismatch*"])
    unconfigured = pytester.runpytest_subprocess("-q", "-rs")
    unconfigured.assert_outcomes(skipped=1)
    unconfigured.stdout.fnmatch_lines(["*shadow_parity: no store configured*"])


def test_marker_paths_and_options_are_listed_in_help(pytester):
    result = pytester.runpytest_subprocess("--help")
    result.stdout.fnmatch_lines(["*shadow-audit parity checks*", "*--shadow-audit-source*"])
    markers = pytester.runpytest_subprocess("--markers")
    markers.stdout.fnmatch_lines(["*@pytest.mark.shadow_parity*"])


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
