"""The investigation notebook runs top to bottom against a fresh demo store and draws its
charts; the library API behind it renders in Jupyter."""

from __future__ import annotations

import shutil
import sqlite3
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


def _run_from_a_checkout(demo: Path, root: Path, kernel_dir: str) -> list:
    """The notebook with its default (root-relative) parameters, in a folder laid out like
    the repository: ``notebooks/`` and the demo store in ``shadow-audit-demo/``. The kernel
    starts in ``kernel_dir`` (``jupyter nbconvert --execute notebooks/...`` from the root
    starts it in ``notebooks/``)."""
    from nbclient import NotebookClient

    (root / "notebooks").mkdir(parents=True)
    shutil.copy(NOTEBOOK, root / "notebooks" / NOTEBOOK.name)
    shutil.copytree(demo, root / "shadow-audit-demo")
    nb = nbformat.read(root / "notebooks" / NOTEBOOK.name, as_version=4)
    NotebookClient(
        nb,
        timeout=300,
        kernel_name="python3",
        resources={"metadata": {"path": str(root / kernel_dir)}},
    ).execute()
    outputs = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs]
    assert not [o for o in outputs if o.output_type == "error"]
    return outputs


def _html(outputs: list) -> str:
    return "".join(o.get("data", {}).get("text/html", "") for o in outputs)


def test_notebook_runs_from_notebooks_folder_and_drills_into_todays_drift(demo, tmp_path):
    # the repaired demo, drifted again after its last audit: only a fresh audit sees it
    db = demo / ".vibe" / "state" / "vibe_agency.db"
    drifted = tmp_path / "drifted"
    shutil.copytree(demo, drifted)
    conn = sqlite3.connect(drifted / db.relative_to(demo))
    conn.execute("UPDATE missions SET phase = 'TESTING' WHERE mission_uuid = 'proj-000006'")
    conn.commit()
    conn.close()
    outputs = _run_from_a_checkout(drifted, tmp_path / "checkout", "notebooks")
    images = [o for o in outputs if "image/png" in o.get("data", {})]
    assert len(images) >= 2
    printed = "".join(o.get("text", "") for o in outputs if o.output_type == "stream")
    assert "charts drawn: 2" in printed
    html = _html(outputs)
    assert "shadow-audit report: RED" in html  # the latest run with findings
    assert "<h3>proj-000006</h3>" in html  # the drifted key, not one from the RED run
    assert "deepdiff (source → shadow)" in html
    assert "root[&#x27;manifest&#x27;][&#x27;status&#x27;][&#x27;projectPhase&#x27;]" in html


def test_notebook_runs_from_the_root_and_says_a_repaired_store_agrees(demo, tmp_path):
    outputs = _run_from_a_checkout(demo, tmp_path / "checkout", ".")
    shown = _html(outputs) + "".join(str(o.get("data", {}).get("text/plain", "")) for o in outputs)
    assert "shadow-audit report: RED" in shown
    assert "The stores agree now: nothing to drill into." in shown
    assert "deepdiff (source → shadow)" not in shown


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


def test_explain_reads_rows_and_rebuilds_as_the_reference_does(demo):
    """explain() uses the read path's UnitReader and compiled rebuild: the law against the
    reference (read_unit_rows + build_documents), on every demo key, drifted ones included."""
    from shadow_audit.config import Config
    from shadow_audit.mapping import build_documents
    from shadow_audit.stores.rows import read_unit_rows

    mapping = Config().mapping
    db = demo / ".vibe" / "state" / "vibe_agency.db"
    conn = sqlite3.connect(db)
    keys = [r[0] for r in conn.execute("SELECT mission_uuid FROM missions ORDER BY 1")]
    assert len(keys) > 5
    for key in keys:
        rows = read_unit_rows(conn, mapping, key)
        shown = explain(demo / "workspaces", db, key)
        assert shown.rebuilt == build_documents(mapping, key, rows)
        for e in mapping.entities:
            key_cols = [e.key_column] if e.key_column and not e.is_root else []
            cols = [f.column for f in e.compared_fields]
            reference = [
                (*([k] if key_cols else []), *(r.get(c) for c in cols))
                for k, r in rows.get(e.table, [])
            ]
            assert shown.actual[e.table].to_dict("split")["data"] == [list(t) for t in reference]
    conn.close()
