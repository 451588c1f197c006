"""The JSON store: atomic writes that survive a crash at the worst moment, locks, safe names."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import orjson
import pytest

from shadow_audit.errors import UsageError
from shadow_audit.stores.json_store import JsonStore, atomic_write


def test_atomic_write_replaces_whole_file_and_keeps_mode(tmp_path):
    target = tmp_path / "doc.json"
    target.write_text("old")
    os.chmod(target, 0o640)
    atomic_write(target, b'{"new": true}')
    assert target.read_bytes() == b'{"new": true}'
    assert target.stat().st_mode & 0o777 == 0o640
    assert [p.name for p in tmp_path.iterdir()] == ["doc.json"]


def test_failure_at_replace_leaves_old_file_and_no_temp(tmp_path, monkeypatch):
    target = tmp_path / "doc.json"
    target.write_bytes(b'{"version": 1}')

    def boom(src: str, dst: str) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", boom)
    with pytest.raises(OSError):
        atomic_write(target, b'{"version": 2}')
    assert orjson.loads(target.read_bytes()) == {"version": 1}
    assert [p.name for p in tmp_path.iterdir()] == ["doc.json"]


def test_process_killed_between_temp_write_and_replace_keeps_old_json(tmp_path):
    """A real writer process is SIGKILLed at the instant before os.replace."""
    target = tmp_path / "ws" / "project_manifest.json"
    target.parent.mkdir()
    target.write_bytes(b'{"version": 1}\n')
    script = textwrap.dedent(
        f"""
        import os, signal
        from pathlib import Path
        from shadow_audit.stores.json_store import atomic_write
        os.replace = lambda src, dst: os.kill(os.getpid(), signal.SIGKILL)
        new = b'{{"version": 2, "padding": "' + b'x' * 100000 + b'"}}'
        atomic_write(Path({str(target)!r}), new)
        """
    )
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, timeout=60)
    assert proc.returncode == -signal.SIGKILL
    assert orjson.loads(target.read_bytes()) == {"version": 1}
    leftovers = [p.name for p in target.parent.iterdir() if p.name != target.name]
    assert all(name.startswith(".project_manifest.json.") for name in leftovers)


def test_units_are_found_by_pattern_and_named_by_folder(store):
    units = JsonStore(store.source).units()
    assert [u.name for u in units] == [m["metadata"]["projectId"] for m, _ in store.projects]


def test_units_are_what_the_glob_of_the_pattern_matches_in_its_order(tmp_path):
    """The ``*/<file>`` listing is the glob's: hidden folders and links to folders count,
    a dangling link, a folder without the file, a file where the folder would be and a
    folder named like the file do as the glob does; the order is the glob's sorted one."""
    root = tmp_path / "ws"
    for name in ["b", "a-b", "a", ".hidden", "A", "é", "a b", "z9", "z10"]:
        (root / name).mkdir(parents=True)
        (root / name / "project_manifest.json").write_text("{}")
    (root / "empty").mkdir()
    (root / "plain-file").write_text("")
    (root / "dir-named-like-file" / "project_manifest.json").mkdir(parents=True)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "project_manifest.json").write_text("{}")
    (root / "linked").symlink_to(elsewhere)
    (root / "dangling").symlink_to(tmp_path / "nowhere")
    (root / "file-link").symlink_to(elsewhere / "project_manifest.json")
    (root / "to-dangling").mkdir()
    (root / "to-dangling" / "project_manifest.json").symlink_to(tmp_path / "nowhere")
    units = JsonStore(root).units()
    globbed = sorted(root.glob("*/project_manifest.json"))
    assert [u.primary for u in units] == globbed
    assert [u.name for u in units] == [p.parent.name for p in globbed]
    assert {"linked", ".hidden", "dir-named-like-file"} <= {u.name for u in units}


@pytest.mark.parametrize("name", ["../escape", "a/b", ".hidden", "..", ""])
def test_unsafe_workspace_names_are_refused(tmp_path, name):
    with pytest.raises(UsageError, match="not a safe name"):
        JsonStore(tmp_path).path_for(name, "manifest")


def test_lock_is_exclusive_across_processes(tmp_path):
    store = JsonStore(tmp_path)
    script = textwrap.dedent(
        f"""
        from filelock import Timeout
        from shadow_audit.stores.json_store import JsonStore
        try:
            with JsonStore({str(tmp_path)!r}).lock("alpha", timeout=0.2):
                print("acquired")
        except Timeout:
            print("busy")
        """
    )
    with store.lock("alpha"):
        held = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    free = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert held.stdout.strip() == "busy"
    assert free.stdout.strip() == "acquired"


def test_missing_source_folder_is_a_clear_error(tmp_path):
    from shadow_audit.errors import SourceError

    with pytest.raises(SourceError, match=f"source folder {tmp_path / 'nope'}"):
        JsonStore(tmp_path / "nope").units()


def test_written_document_reads_back(tmp_path, project):
    manifest, _ = project(0)
    store = JsonStore(tmp_path)
    path = store.path_for("proj-000000", "manifest")
    store.write(path, manifest)
    assert store.read(path) == manifest
    assert path == Path(tmp_path / "proj-000000" / "project_manifest.json")
