"""Source files are opened safely: regular files only, up to a size cap, never through a
symlink out of the source folder; a FIFO, device or socket is reported, never a hang."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from shadow_audit.errors import SourceError
from shadow_audit.stores.files import FilePolicy, FileRefused, SafeReader
from shadow_audit.stores.json_store import JsonStore
from tests.conftest import audit_cli, audit_main

HANG = 120  # seconds: a run that takes this long is hanging on a file


def cli(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    """The CLI with a deadline: before the fix these runs blocked forever on a FIFO."""
    return subprocess.run(
        [sys.executable, "-m", "shadow_audit.cli", *args],
        capture_output=True, text=True, timeout=HANG, cwd=cwd,
    )  # fmt: skip


def invalid(out: Path) -> dict[str, list[str]]:
    report = json.loads((out / "report.json").read_text())
    return {f["path"]: f["detail"] for f in report["findings"] if f["kind"] == "invalid_source"}


def test_a_fifo_in_the_source_is_an_invalid_source_not_a_hang(store, tmp_path):
    memory = store.memory_path("proj-000001")
    memory.unlink()
    os.mkfifo(memory)
    out = tmp_path / "out"
    run = subprocess.run(
        [sys.executable, "-m", "shadow_audit.cli", "audit", "--source", str(store.source),
         "--shadow", str(store.db), "--out", str(out), "--no-history", "--settle", "0"],
        capture_output=True, text=True, timeout=HANG, cwd=tmp_path,
    )  # fmt: skip
    assert run.returncode == 1, run.stdout + run.stderr
    assert invalid(out) == {str(memory): ["is a FIFO, not a regular file; not read"]}
    assert not (out / ".shadow-audit.lock").exists() or run.returncode == 1  # lock released
    again = audit_cli(store.source, store.db, out, "--no-history")
    assert "this run is skipped" not in again.stderr


def test_validate_reports_a_fifo_in_a_folder_and_one_named_explicitly(tmp_path):
    folder = tmp_path / "ws" / "proj-1"
    folder.mkdir(parents=True)
    fifo = folder / "project_manifest.json"
    os.mkfifo(fifo)
    for target in (str(tmp_path / "ws"), str(fifo)):
        run = cli("validate", target, cwd=tmp_path)
        assert run.returncode == 1, run.stdout + run.stderr
        assert f"{fifo}: is a FIFO, not a regular file; not read" in run.stdout


def test_a_manifest_symlinked_out_of_the_source_is_not_followed(store, tmp_path):
    secret = tmp_path / "secret.json"
    secret.write_text(json.dumps({"apiVersion": "TOP-SECRET-TOKEN"}))
    manifest = store.manifest_path("proj-000002")
    manifest.unlink()
    manifest.symlink_to(secret)
    out = tmp_path / "out"
    run = audit_main(store.source, store.db, out, "--no-history")
    assert run.returncode == 1, run.stdout + run.stderr
    (reasons,) = invalid(out).values()
    assert reasons == [
        f"is a symlink to {secret}, outside the source folder; not followed "
        "(--follow-symlinks to follow it)"
    ]
    assert "TOP-SECRET-TOKEN" not in (out / "report.json").read_text()
    followed = audit_main(store.source, store.db, out, "--no-history", "--follow-symlinks")
    assert "TOP-SECRET-TOKEN" in (out / "report.json").read_text(), followed.stdout


def test_a_workspace_folder_symlinked_out_is_not_entered(store, tmp_path):
    outside = tmp_path / "elsewhere"
    (store.source / "proj-000003").rename(outside)
    (store.source / "proj-000003").symlink_to(outside, target_is_directory=True)
    out = tmp_path / "out"
    audit_main(store.source, store.db, out, "--no-history")
    paths = invalid(out)
    assert str(store.manifest_path("proj-000003")) in paths
    assert "its folder" in paths[str(store.manifest_path("proj-000003"))][0]


def test_a_symlink_inside_the_source_folder_is_followed(store, tmp_path):
    manifest = store.manifest_path("proj-000000")
    kept = store.source / "proj-000000" / "real_manifest.json.bak"
    manifest.rename(kept)
    manifest.symlink_to(kept)
    run = audit_main(store.source, store.db, tmp_path / "out", "--no-history")
    assert run.returncode == 0, run.stdout + run.stderr


def test_documents_over_the_size_cap_are_reported_not_read(store, tmp_path):
    out = tmp_path / "out"
    run = audit_main(store.source, store.db, out, "--no-history", "--max-document-mb", "0.0001")
    assert run.returncode == 1
    reasons = invalid(out)
    assert len(reasons) == 5  # every manifest is over 100 bytes (its memory is then not read)
    assert all("over the cap of 0.0001 MB (--max-document-mb)" in r[0] for r in reasons.values())


@pytest.mark.parametrize("value", ["0", "-1", "lots"])
def test_a_bad_size_cap_is_a_usage_error(store, tmp_path, value):
    run = audit_cli(store.source, store.db, tmp_path / "out", "--max-document-mb", value)
    assert run.returncode == 2
    assert "--max-document-mb" in run.stderr and "above 0" in run.stderr
    assert not (tmp_path / "out").exists()


def test_the_reader_refuses_sockets_and_devices(tmp_path):
    reader = SafeReader(tmp_path)
    sock = socket.socket(socket.AF_UNIX)
    path = tmp_path / "s.json"
    try:
        sock.bind(str(path))
        with pytest.raises(FileRefused, match="is a socket, not a regular file"):
            reader.read(path)
    finally:
        sock.close()
    device = tmp_path / "null.json"
    device.symlink_to("/dev/null")
    with pytest.raises(FileRefused, match="outside the source folder"):
        reader.read(device)
    with pytest.raises(FileRefused, match="is a character device"):
        SafeReader(tmp_path, FilePolicy(follow_symlinks=True)).read(device)
    with pytest.raises(FileNotFoundError):
        reader.read(tmp_path / "absent.json")


def test_the_json_store_reads_through_the_same_checks(tmp_path):
    store = JsonStore(tmp_path)
    (tmp_path / "p").mkdir()
    fifo = tmp_path / "p" / "project_manifest.json"
    os.mkfifo(fifo)
    with pytest.raises(SourceError, match="is a FIFO"):
        store.read(fifo)


@pytest.mark.parametrize("size", [0, 1, 4096, 65536, 65537, 300_000])
def test_the_reader_returns_every_byte(tmp_path, size):
    data = os.urandom(size)
    (tmp_path / "doc.json").write_bytes(data)
    assert SafeReader(tmp_path).read(tmp_path / "doc.json") == data


PROC = Path("/proc/self")


@pytest.mark.skipif(not (PROC / "cmdline").is_file(), reason="needs Linux /proc")
def test_a_file_longer_than_its_size_says_is_read_whole_and_capped():
    """A /proc file says size 0 and holds more: the reader goes on to the end, and the
    cap still holds on what it really reads."""
    path = PROC / "cmdline"
    assert os.stat(path).st_size == 0
    whole = path.read_bytes()
    assert len(whole) > 20
    assert SafeReader(PROC).read(path) == whole
    with pytest.raises(FileRefused, match="over the cap"):
        SafeReader(PROC, FilePolicy(max_document_mb=10 / (1024 * 1024))).read(path)
