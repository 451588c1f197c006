"""The investigation notebook runs top to bottom against a fresh demo store and draws its
charts; the library API behind it renders in Jupyter."""

from __future__ import annotations

from pathlib import Path

import nbformat
import pytest

from shadow_audit.notebook import explain, load_history, load_report
from tests.conftest import run_cli

NOTEBOOK = Path(__file__).resolve().parents[1] / "notebooks" / "investigate_mismatches.ipynb"


@pytest.fixture(scope="module")
def demo(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("nb") / "demo"
    done = run_cli("demo", "--dir", str(root), "--projects", "8")
    assert done.returncode == 0, done.stdout + done.stderr
    return root


def test_notebook_is_stored_without_outputs():
    nb = nbformat.read(NOTEBOOK, as_version=4)
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert all(c.outputs == [] and c.execution_count is None for c in code)
    assert "parameters" in code[0].metadata.get("tags", [])


def test_notebook_runs_clean_and_draws_its_charts(demo, tmp_path):
    import shutil
    import sqlite3

    from nbclient import NotebookClient

    # a copy of the repaired demo, drifted again, so the drill-down has a diff to show
    demo = Path(shutil.copytree(demo, tmp_path / "demo"))
    conn = sqlite3.connect(demo / ".vibe" / "state" / "vibe_agency.db")
    conn.execute("UPDATE missions SET phase = 'TESTING' WHERE mission_uuid = 'proj-000000'")
    conn.commit()
    conn.close()

    nb = nbformat.read(NOTEBOOK, as_version=4)
    params = next(c for c in nb.cells if "parameters" in c.metadata.get("tags", []))
    params.source = (
        f'REPORTS = "{demo / "reports"}"\nSOURCE = "{demo / "workspaces"}"\n'
        f'SHADOW = "{demo / ".vibe" / "state" / "vibe_agency.db"}"\n'
    )
    NotebookClient(
        nb, timeout=300, kernel_name="python3", resources={"metadata": {"path": str(demo)}}
    ).execute()
    outputs = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs]
    assert not [o for o in outputs if o.output_type == "error"]
    images = [o for o in outputs if "image/png" in o.get("data", {})]
    assert len(images) >= 2
    printed = "".join(o.get("text", "") for o in outputs if o.output_type == "stream")
    assert "charts drawn: 2" in printed
    html = "".join(o.get("data", {}).get("text/html", "") for o in outputs)
    assert "shadow-audit report: RED" in html  # the latest run with findings
    assert "deepdiff (source → shadow)" in html
    assert "root[&#x27;manifest&#x27;][&#x27;status&#x27;][&#x27;projectPhase&#x27;]" in html


def test_api_objects_render_and_explain_shows_the_drift(demo):
    report = load_report(sorted((demo / "reports" / "runs").glob("*"))[0])
    assert report.status == "RED"
    assert "<h3>shadow-audit report: RED</h3>" in report._repr_html_()
    assert set(report.breakdown()["kind"]) == {"value_mismatch", "extra_in_shadow"}
    history = load_history(demo / "reports" / "history.db")
    assert list(history.runs["status"]) == ["RED", "GREEN"]
    assert "2 runs, 1 GREEN" in history._repr_html_()
    clean = explain(demo / "workspaces", demo / ".vibe" / "state" / "vibe_agency.db", "proj-000001")
    assert clean.diff == {}
    assert "rebuilds exactly this document" in clean._repr_html_()
