"""The built wheel carries the schemas: the installed package validates without the source tree."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_installed_wheel_loads_its_schemas(tmp_path):
    dist = tmp_path / "dist"
    build = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(dist), str(ROOT)],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert build.returncode == 0, build.stderr
    (wheel,) = dist.glob("shadow_audit-*.whl")
    target = tmp_path / "site"
    install = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--no-deps",
            "-q",
            "--target",
            str(target),
            str(wheel),
        ],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert install.returncode == 0, install.stderr
    probe = textwrap.dedent(
        """
        import shadow_audit, shadow_audit.validation as v
        print(shadow_audit.__file__)
        print(v.schema_dir())
        print(sorted(p.name for p in v.schema_dir().glob("*.json")))
        print(v.validate_document({}, "memory")[0])
        """
    )
    env = {**os.environ, "PYTHONPATH": str(target)}
    run = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, cwd=tmp_path, env=env
    )
    assert run.returncode == 0, run.stderr
    module, folder, names, first_error = run.stdout.splitlines()
    assert module.startswith(str(target))
    assert folder == str(target / "shadow_audit" / "schemas")
    assert names == str(
        ["audit_report.schema.json", "project_manifest.schema.json", "project_memory.schema.json"]
    )
    assert first_error == "/: 'project_id' is a required property"
