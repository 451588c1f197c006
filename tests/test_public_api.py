"""``import shadow_audit as sa``: the public names, loaded on first use."""

from __future__ import annotations

import ast
import inspect
import re
import shutil
import sqlite3
import subprocess
import sys
import tomllib
from contextlib import closing
from pathlib import Path

import pytest

import shadow_audit as sa
from tests.conftest import make_store

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
    names = ["audit", "frames", "load_config", "decide_gate", "plan_repair", "repair"]
    for name in [*names, "assert_parity"]:
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
    # the probe sees heavy modules when they load: the DataFrame face loads pandas at once
    assert loaded_after("import shadow_audit as sa\nsa.frames", AUDIT_SIDE) == ["pandas", "numpy"]


def test_the_audit_loads_pandas_and_deepdiff_only_when_rows_differ(tmp_path):
    store = make_store(tmp_path, 3)
    run = f"import shadow_audit as sa\nr = sa.audit({str(store.source)!r}, {str(store.db)!r})"
    assert loaded_after(f"{run}\nassert r.findings == ()", AUDIT_SIDE) == []
    store.sql("UPDATE missions SET owner = 'x' WHERE mission_uuid = 'proj-000001'")
    assert loaded_after(f"{run}\nassert len(r.findings) == 1", AUDIT_SIDE) == AUDIT_SIDE


@pytest.mark.parametrize("name", ["frames", "backfill", "repair"])
@pytest.mark.parametrize("module_first", [True, False])
def test_a_function_named_like_its_module_wins_whatever_is_imported_first(name, module_first):
    """sa.frames is the function even when shadow_audit.frames (the module) loaded first."""
    steps = [f"import shadow_audit.{name}", "import shadow_audit as sa", f"f = sa.{name}"]
    if not module_first:
        steps = [steps[1], steps[2], steps[0], f"f = sa.{name}"]
    code = "\n".join(steps) + f"\nfrom shadow_audit.{name} import {name} as g\nassert f is g, f"
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert run.returncode == 0, run.stderr


def readme_block(heading: str) -> str:
    text = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    section = text.split(f"\n## {heading}\n", 1)[1].split("\n## ", 1)[0]
    return section.split("```python\n", 1)[1].split("```", 1)[0]


def test_the_readme_library_example_runs_with_public_names_only(tmp_path, monkeypatch):
    code = readme_block("Library: the audit")
    imports = [line for line in code.splitlines() if "import" in line]
    assert imports == ["import shadow_audit as sa"]
    used = set(re.findall(r"\bsa\.(\w+)", code))
    assert used and used <= set(sa.__all__)
    store = make_store(tmp_path / "built", 3)
    store.sql("UPDATE missions SET owner = 'x' WHERE id = 1")
    shutil.copytree(store.source, tmp_path / "workspaces")
    (tmp_path / ".vibe" / "state").mkdir(parents=True)
    with (
        closing(sqlite3.connect(store.db)) as src,
        closing(sqlite3.connect(tmp_path / ".vibe/state/vibe_agency.db")) as dst,
    ):
        src.backup(dst)
    (tmp_path / "shadow-audit.toml").write_text("[audit]\nvalidate = true\n")
    monkeypatch.chdir(tmp_path)
    scope: dict[str, object] = {}
    exec(compile(code, "README.md", "exec"), scope)
    assert scope["result"].status == "RED"
    assert len(scope["cells"][~scope["cells"]["equal"]]) == 0  # the narrative is clean
    assert scope["plan"].actions[0].field == "owner"
    assert scope["outcome"].execution is None and scope["outcome"].status == "RED"
    assert scope["decision"].verdict == "NOT READY"  # no audit recorded in reports/


def test_the_library_needs_no_pytest(tmp_path):
    """pytest is an extra: the library (the CLI's audit included) runs without it."""
    pyproject = tomllib.loads((Path(__file__).resolve().parents[1] / "pyproject.toml").read_text())
    project = pyproject["project"]
    assert not any(d.startswith("pytest") for d in project["dependencies"])
    assert project["optional-dependencies"]["pytest"] == ["pytest>=8.0"]
    assert any(d.startswith("pytest") for d in project["optional-dependencies"]["test"])
    store = make_store(tmp_path, 2)
    code = (
        "import sys\nsys.modules['pytest'] = None  # any import of pytest now fails\n"
        "import shadow_audit as sa\nfrom shadow_audit.cli import main\n"
        "sa.frames(sys.argv[1], sys.argv[2]).match_rates()\n"
        "sys.exit(main(['audit', '--source', sys.argv[1], '--shadow', sys.argv[2], "
        "'--out', sys.argv[3]]))"
    )
    run = subprocess.run(
        [sys.executable, "-c", code, str(store.source), str(store.db), str(tmp_path / "out")],
        capture_output=True,
        text=True,
    )
    assert run.returncode == 0, run.stderr
    assert (tmp_path / "out" / "report.json").is_file()
