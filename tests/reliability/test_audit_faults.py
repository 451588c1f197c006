"""Faults in the audit path: each becomes a finding or a one-line error, never a traceback
or a hang."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

import orjson
import pytest

from shadow_audit.engine.run import audit
from shadow_audit.stores.files import FilePolicy
from tests.conftest import audit_cli, make_store


def only_invalid(result, pid: str) -> str:
    (finding,) = result.findings
    assert (finding.kind, finding.key) == ("invalid_source", pid), finding
    return " ".join(finding.detail)


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        (b"", "not valid JSON at line 1, column 1"),
        (b"\xff\xfe{}\x80", "not valid JSON"),
        (b'{"apiVersion": NaN}', "not valid JSON"),
        (b'{"budget": {"max_cost_usd": Infinity}}', "not valid JSON"),
        (b"[" * 10_000 + b"]" * 10_000, "not valid JSON"),
        (b'{"a": ' * 10_000 + b"1" + b"}" * 10_000, "not valid JSON"),
    ],
    ids=["empty", "invalid-utf8", "nan", "infinity", "deep-array", "deep-object"],
)
def test_bad_bytes_become_invalid_source(store, content, reason):
    (store.manifest_path("proj-000002")).write_bytes(content)
    assert reason in only_invalid(audit(store.source, store.db), "proj-000002")


def test_duplicate_json_keys_are_invalid_source(store):
    path = store.memory_path("proj-000001")
    text = path.read_text()
    path.write_text(text.replace('"project_id"', '"_schema_version": "9", "project_id"', 1))
    for workers in (1, 2):
        detail = only_invalid(audit(store.source, store.db, workers=workers), "proj-000001")
        assert "duplicate key '_schema_version'" in detail


def test_symlink_loop_is_invalid_source(store):
    path = store.memory_path("proj-000003")
    path.unlink()
    path.symlink_to(path)
    assert "Too many levels of symbolic links" in only_invalid(
        audit(store.source, store.db), "proj-000003"
    )


def test_file_deleted_or_rewritten_while_the_audit_runs(store):
    seen = []

    def meddle(_: int) -> None:
        seen.append(1)
        if len(seen) == 1:  # after the first document, before the others are read
            store.memory_path("proj-000003").unlink()
            manifest = orjson.loads(store.manifest_path("proj-000004").read_bytes())
            manifest["metadata"]["owner"] = "rewritten@example.com"
            store.manifest_path("proj-000004").write_bytes(orjson.dumps(manifest))

    result = audit(store.source, store.db, progress=meddle, workers=1)
    got = {(f.kind, f.entity, f.key.split("/")[0], f.field) for f in result.findings}
    assert ("value_mismatch", "missions", "proj-000004", "owner") in got
    assert {k for _, _, k, _ in got} == {
        "proj-000003",
        "proj-000004",
    }  # the deleted memory's rows: extra


@pytest.mark.slow
def test_a_fifty_megabyte_document(tmp_path):
    store = make_store(tmp_path, 2)
    manifest, memory = store.projects[0]
    memory["narrative"] = [
        {"session": i, "summary": "s" * 230, "date": "2026-01-01T00:00:00Z", "phase": "CODING"}
        for i in range(200_000)
    ]
    assert store.writer.save_project(manifest, memory).shadow_ok
    assert store.memory_path("proj-000000").stat().st_size > 50_000_000
    # 70 MB: over the default --max-document-mb of 64, so the cap is raised for it
    result = audit(store.source, store.db, files=FilePolicy(max_document_mb=128))
    assert result.status == "GREEN"
    assert result.summary["session_narrative"].matched > 200_000


def test_unreadable_source_file(store, tmp_path):
    """A file the auditing user may not read (root reads everything, so drop that power)."""
    os.chmod(store.manifest_path("proj-000001"), 0)
    cmd = [sys.executable, "-m", "shadow_audit.cli", "audit", "--source", str(store.source),
           "--shadow", str(store.db), "--out", str(tmp_path / "out"), "--no-history",
           "--settle", "0"]  # fmt: skip
    if os.geteuid() == 0:
        if not shutil.which("setpriv"):
            pytest.skip("running as root without setpriv: every file is readable")
        cmd = ["setpriv", "--bounding-set=-dac_override,-dac_read_search", *cmd]
    run = subprocess.run(cmd, capture_output=True, text=True, cwd=tmp_path, timeout=120)
    os.chmod(store.manifest_path("proj-000001"), 0o644)
    assert run.returncode == 1, run.stderr
    assert "Traceback" not in run.stderr
    report = orjson.loads((tmp_path / "out" / "report.json").read_bytes())
    (finding,) = report["findings"]
    assert finding["kind"] == "invalid_source" and "Permission denied" in finding["detail"][0]


def test_database_that_is_not_sqlite_and_one_missing_a_table(store, tmp_path):
    fake = tmp_path / "fake.db"
    fake.write_text("SQLite format 3? no, just text\n" * 200)
    run = audit_cli(store.source, fake, tmp_path / "o")
    assert run.returncode == 2 and len(run.stderr.splitlines()) == 1
    store.sql("DROP TABLE trajectory")
    run = audit_cli(
        store.source,
        store.db,
        tmp_path / "o",
    )
    assert run.returncode == 1 and "tables missing: trajectory" in run.stdout
