"""Security: the audit never writes the database, identifiers are checked before SQL,
no traversal, escaped HTML, no pickle/eval/yaml of data, no widened permissions."""

from __future__ import annotations

import os
import re
from pathlib import Path

import orjson

from shadow_audit.engine.run import audit
from tests.conftest import audit_cli, audit_main, make_store, run_main

PACKAGE = Path(__file__).resolve().parents[2] / "shadow_audit"


def test_no_pickle_eval_or_yaml_load_in_the_package():
    banned = re.compile(
        r"\bimport pickle\b|\bpickle\.loads?\(|(?<![.\w])eval\(|(?<![.\w])exec\(|yaml\.load\("
    )
    hits = [
        f"{p.name}:{n}"
        for p in PACKAGE.rglob("*.py")
        for n, line in enumerate(p.read_text().splitlines(), 1)
        if banned.search(line)
    ]
    assert hits == []


def test_audit_uses_a_read_only_connection_and_leaves_bytes_and_mtime(store):
    store.sql("UPDATE missions SET owner = 'x' WHERE id = 2")
    before = (store.db.read_bytes(), store.db.stat().st_mtime_ns)
    assert audit(store.source, store.db).status == "RED"
    assert (store.db.read_bytes(), store.db.stat().st_mtime_ns) == before


def test_hostile_table_name_in_config_never_reaches_sql(store, tmp_path):
    config = tmp_path / "evil.toml"
    config.write_text(
        '[source]\nprimary = { name = "manifest", pattern = "*/project_manifest.json", key = "metadata.projectId" }\n'
        '[[entity]]\ntable = \'missions"; DROP TABLE missions; --\'\ndocument = "manifest"\nkey_column = "mission_uuid"\n'
    )
    run = audit_cli(
        store.source,
        store.db,
        tmp_path / "o",
        "--config",
        str(config),
    )
    assert run.returncode == 2 and "not a plain SQL identifier" in run.stderr
    assert store.sql("SELECT count(*) FROM missions") == [(5,)]


def test_script_in_a_document_is_escaped_in_the_html_report(tmp_path):
    store = make_store(tmp_path, 2)
    manifest, memory = store.projects[0]
    memory["narrative"][0]["summary"] = "<script>alert(document.cookie)</script>"
    store.writer.save_project(manifest, memory)
    store.sql("UPDATE session_narrative SET summary = '<img src=x onerror=alert(1)>' WHERE id = 1")
    out = tmp_path / "out"
    run = audit_main(
        store.source,
        store.db,
        out,
        "--format",
        "html,md",
        "--no-history",
    )
    assert run.returncode == 1
    html = (out / "report.html").read_text()
    assert "<script>alert" not in html and "<img src=x" not in html
    assert "&lt;script&gt;alert(document.cookie)&lt;/script&gt;" in html
    assert "<img" not in (out / "report.md").read_text()


def test_reports_ledger_and_history_are_no_wider_than_the_source(tmp_path):
    store = make_store(tmp_path, 2)
    os.chmod(store.source, 0o700)
    store.sql("UPDATE missions SET owner = 'x' WHERE id = 1")
    out = tmp_path / "out"
    run = audit_main(store.source, store.db, out,
                     "--format", "md,html,junit,prom", "--history", str(tmp_path / "h.db"))  # fmt: skip
    assert run.returncode == 1
    for path in [*out.glob("*.*"), *out.glob("runs/*/*"), tmp_path / "h.db"]:
        assert path.stat().st_mode & 0o077 == 0, path
    store.writer.ledger.record(key="k", document_hash="h", error=RuntimeError("x"))
    assert store.writer.ledger.path.stat().st_mode & 0o777 == 0o600


def test_no_file_name_comes_from_document_data(tmp_path):
    """Keys never become paths: reports, runs and before-images are named by time only."""
    store = make_store(tmp_path, 2)
    out = tmp_path / "out"
    store.sql("UPDATE missions SET mission_uuid = '../../escape' WHERE id = 1")
    audit_main(
        store.source,
        store.db,
        out,
        "--no-history",
    )
    run_main(
        "repair",
        "--source",
        str(store.source),
        "--shadow",
        str(store.db),
        "--out",
        str(out),
        "--execute",
    )
    made = {p.relative_to(tmp_path).parts[0] for p in tmp_path.rglob("*")}
    assert made <= {"out", "workspaces", "shadow.db", "shadow.db-wal", "shadow.db-shm"}
    assert not (tmp_path.parent / "escape").exists()
    report = orjson.loads((out / "report.json").read_bytes())
    assert any(f["key"] == "../../escape" for f in report["findings"])
