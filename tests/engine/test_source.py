"""The source walk (shadow_audit.engine.source): what it reads, what becomes an
``invalid_source`` or ``duplicate_key`` finding, and the schema check it never skips."""

from __future__ import annotations

import shutil

import orjson
import pytest

from shadow_audit.engine.run import audit
from shadow_audit.engine.source import SourceScan
from shadow_audit.errors import UsageError
from shadow_audit.profiles import REFERENCE
from tests.engine.test_finding_kinds import findings, only


def test_invalid_source_is_listed_and_left_out(store):
    path = store.manifest_path("proj-000002")
    manifest = orjson.loads(path.read_bytes())
    manifest["status"]["projectPhase"] = "DONE"
    path.write_bytes(orjson.dumps(manifest))
    result, found = findings(store)
    f = only(found)
    assert (f["kind"], f["entity"], f["key"], f["path"]) == (
        "invalid_source",
        "manifest",
        "proj-000002",
        str(path),
    )
    assert f["detail"] == [
        "/status/projectPhase: 'DONE' is not one of ['PLANNING', 'AWAITING_CODE_GENERATION', 'CODING', 'TESTING', 'DEPLOYMENT', 'MAINTENANCE', 'PRODUCTION']"
    ]
    assert result.summary["missions"].source_rows == 4


def test_unparseable_source_is_listed_with_line_and_column(store):
    path = store.manifest_path("proj-000003")
    path.write_text('{\n  "apiVersion": \n')
    f = only(findings(store)[1])
    assert (f["kind"], f["key"]) == ("invalid_source", "proj-000003")
    assert f["detail"][0].startswith("not valid JSON at line 3, column 1")


def test_invalid_memory_leaves_out_only_memory_tables(store):
    path = store.memory_path("proj-000004")
    path.write_text("[]")
    result, found = findings(store)
    f = only(found)
    assert (f["kind"], f["entity"], f["key"]) == ("invalid_source", "memory", "proj-000004")
    assert result.summary["missions"].source_rows == 5
    assert result.summary["trajectory"].source_rows == 4


def test_duplicate_key_in_source(store):
    shutil.copytree(store.source / "proj-000001", store.source / "proj-000001-copy")
    f = only(findings(store)[1])
    assert (f["kind"], f["entity"], f["key"], f["path"]) == (
        "duplicate_key",
        "missions",
        "proj-000001",
        "metadata.projectId",
    )
    assert "proj-000001-copy" in f["detail"]


@pytest.mark.parametrize("workers", [0, -1])
def test_workers_below_one_is_an_error_not_a_skipped_schema_check(store, workers):
    with pytest.raises(UsageError, match=f"workers: {workers} is not a whole number >= 1"):
        SourceScan(store.source, REFERENCE, workers=workers)


@pytest.mark.parametrize("workers", [1, 2])
def test_every_worker_count_checks_the_schema(store, workers):
    path = store.manifest_path("proj-000001")
    manifest = orjson.loads(path.read_bytes())
    manifest["kind"] = "Mission"
    path.write_bytes(orjson.dumps(manifest))
    f = only([x.to_dict() for x in audit(store.source, store.db, workers=workers).findings])
    assert (f["kind"], f["key"]) == ("invalid_source", "proj-000001")
