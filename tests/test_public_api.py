"""``import shadow_audit as sa``: the public names, loaded on first use."""

from __future__ import annotations

import ast
import inspect
import subprocess
import sys

import pytest

import shadow_audit as sa

AUDIT_SIDE = ["pandas", "numpy", "deepdiff"]


def loaded_after(code: str, modules: list[str]) -> list[str]:
    """Which of ``modules`` a fresh interpreter has loaded after running ``code``."""
    probe = f"import sys\n{code}\nprint([m for m in {modules!r} if m in sys.modules])"
    run = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    return ast.literal_eval(run.stdout)


def test_every_public_name_resolves():
    for name in sa.__all__:
        assert getattr(sa, name) is not None, name
    assert set(sa.__all__) <= set(dir(sa))
    for name in ["audit", "frames", "load_config", "decide_gate", "plan_repair", "assert_parity"]:
        assert inspect.isfunction(getattr(sa, name)), name
    for name in ["AuditResult", "Finding", "Frames", "GatePolicy", "DualWriter", "JsonStore"]:
        assert inspect.isclass(getattr(sa, name)), name
    from shadow_audit.engine.run import audit

    assert sa.audit is audit


def test_an_unknown_name_is_an_attribute_error():
    with pytest.raises(AttributeError, match="has no attribute 'nosuch'"):
        sa.nosuch  # noqa: B018
    with pytest.raises(ImportError):
        from shadow_audit import nosuch  # noqa: F401


def test_importing_the_package_loads_nothing_heavy():
    assert loaded_after("import shadow_audit", [*AUDIT_SIDE, "jsonschema"]) == []


def test_a_writer_only_application_does_not_load_the_audit_side():
    code = "import shadow_audit as sa\nsa.DualWriter, sa.JsonStore, sa.SqliteShadow, sa.backfill"
    assert loaded_after(code, AUDIT_SIDE) == []
    assert loaded_after("import shadow_audit as sa\nsa.audit", AUDIT_SIDE) == AUDIT_SIDE


@pytest.mark.parametrize("name", ["frames", "backfill"])
@pytest.mark.parametrize("module_first", [True, False])
def test_a_function_named_like_its_module_wins_whatever_is_imported_first(name, module_first):
    """sa.frames is the function even when shadow_audit.frames (the module) loaded first."""
    steps = [f"import shadow_audit.{name}", "import shadow_audit as sa", f"f = sa.{name}"]
    if not module_first:
        steps = [steps[1], steps[2], steps[0], f"f = sa.{name}"]
    code = "\n".join(steps) + f"\nfrom shadow_audit.{name} import {name} as g\nassert f is g, f"
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
