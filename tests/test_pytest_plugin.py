"""The pytest plugin, driven through pytester: passing and failing suites, options, marker."""

from __future__ import annotations

# The audit side loads here, once: pytester's in-process runs (``runpytest``) drop the
# modules first imported inside them, and numpy cannot be loaded twice in one process
# (the engine loads pandas, and numpy with it, only when rows differ).
import deepdiff  # noqa: F401
import pandas  # noqa: F401
import pytest

import shadow_audit.parity  # noqa: F401
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
    """In a fresh pytest (a subprocess): the plugin loads through its entry point alone.
    The other suites run in-process (``runpytest``), which loads it the same way."""
    pytester.makepyfile(SUITE)
    result = pytester.runpytest_subprocess("-q")
    result.assert_outcomes(passed=2)


def test_failing_suite_shows_a_compact_message(pytester):
    pytester.makepyfile(DRIFT)
    result = pytester.runpytest("-q")
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


@pytest.mark.slow
def test_marker_asserts_parity_of_the_configured_store(pytester, tmp_path):
    good = make_store(tmp_path / "good", 2)
    bad = make_store(tmp_path / "bad", 2)
    bad.sql("UPDATE missions SET owner = 'x'")
    pytester.makepyfile(
        """
        import pytest

        @pytest.mark.shadow_parity
        def test_uses_the_real_store():
            pass
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
    result = pytester.runpytest("--help")
    result.stdout.fnmatch_lines(["*shadow-audit parity checks*", "*--shadow-audit-source*"])
    markers = pytester.runpytest("--markers")
    markers.stdout.fnmatch_lines(["*@pytest.mark.shadow_parity*"])


def test_marker_keywords_name_the_store_and_win_over_the_options(pytester, tmp_path):
    good = make_store(tmp_path / "good", 2)
    bad = make_store(tmp_path / "bad", 2)
    bad.sql("UPDATE missions SET owner = 'x'")
    pytester.makepyfile(
        f"""
        import pytest

        @pytest.mark.shadow_parity(source={str(good.source)!r}, shadow={str(good.db)!r})
        def test_good_store():
            pass

        @pytest.mark.shadow_parity(source={str(bad.source)!r}, shadow={str(bad.db)!r})
        def test_bad_store():
            pass
        """
    )
    result = pytester.runpytest(
        "-q", f"--shadow-audit-source={good.source}", f"--shadow-audit-shadow={good.db}"
    )
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(
        [
            "*AssertionError: shadow parity failed: 2 value_mismatch (2 documents)",
            "FAILED *::test_bad_store*",
        ]
    )


def test_marker_rejects_positional_arguments(pytester, tmp_path):
    """Positional paths used to be ignored: the test passed against the options' store."""
    good = make_store(tmp_path / "good", 1)
    pytester.makepyfile(
        """
        import pytest

        @pytest.mark.shadow_parity("ws", "s.db")
        def test_positional():
            pass

        @pytest.mark.shadow_parity(sauce="ws")
        def test_misspelled():
            pass
        """
    )
    result = pytester.runpytest(
        "-q", f"--shadow-audit-source={good.source}", f"--shadow-audit-shadow={good.db}"
    )
    result.assert_outcomes(errors=2)
    result.stdout.fnmatch_lines(
        [
            "*@pytest.mark.shadow_parity('ws', 's.db'): the marker takes keywords only, "
            "e.g. shadow_parity(source='workspaces', shadow='state.db')*",
            "*@pytest.mark.shadow_parity: unknown keyword sauce (known: source, shadow, config)*",
        ]
    )


def test_importing_the_plugin_loads_neither_pandas_nor_deepdiff():
    """pytest imports the plugin at every start: the audit side loads in the hooks."""
    import subprocess
    import sys

    heavy = ["pandas", "numpy", "deepdiff", "jsonschema", "shadow_audit.engine.run"]
    probe = (
        "import sys, shadow_audit.pytest_plugin as p; "
        "p.pytest_addoption, p.shadow_workspace, p.shadow_audit; "
        f"print([m for m in {heavy!r} if m in sys.modules])"
    )
    run = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    assert run.stdout.strip() == "[]"
    # the lazy name still works, and only then loads the audit side
    probe = (
        "import sys; from shadow_audit.pytest_plugin import assert_parity; "
        "print(assert_parity.__module__, 'shadow_audit.engine.run' in sys.modules)"
    )
    run = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True)
    assert run.stdout.split() == ["shadow_audit.parity", "True"]
