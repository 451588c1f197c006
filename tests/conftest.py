"""Shared fixtures: small generated stores written with the real writer, a reference-v2 database."""

from __future__ import annotations

import contextlib
import copy
import io
import logging
import os
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from shadow_audit.dualwrite import DualWriter
from shadow_audit.ledger import FailureLedger
from shadow_audit.profiles import REFERENCE_V2_DDL
from shadow_audit.stores.json_store import JsonStore
from shadow_audit.stores.sqlite_shadow import SqliteShadow
from shadow_audit.synth import make_projects

pytest_plugins = ["pytester"]

# The columns this project adds to the reference schema v2, so the round trip is lossless.
EXTRA_COLUMNS = [
    ("missions", "name"),
    ("missions", "status_message"),
    ("missions", "status_updated_at"),
    ("missions", "roadmap"),
    ("missions", "extra"),
    ("domain_concepts", "position"),
    ("domain_concerns", "position"),
    ("trajectory", "domain_type"),
    ("trajectory", "intent_history"),
    ("trajectory", "memory_schema_version"),
    ("trajectory", "memory_created"),
    ("trajectory", "memory_project_id"),
    ("trajectory", "extra"),
]
# The key column this project adds: session_narrative rows are keyed by list position.
EXTRA_KEY_COLUMNS = [("session_narrative", "position")]

# ../shared beside the repository (a worktree sits one level deeper: try its parent too)
VIBE_FIXTURES = next(
    (
        p / "shared" / "fixtures" / "vibe"
        for p in Path(__file__).resolve().parents[2:4]
        if (p / "shared" / "fixtures" / "vibe").is_dir()
    ),
    Path(__file__).resolve().parents[2] / "shared" / "fixtures" / "vibe",
)


# Set by pytest_configure: True in the quick run, the one that deselects the slow tests
# (`pytest -m "not slow"`); the README's and CI's command (no -m) runs at full strength.
QUICK_RUN = False


def pytest_configure(config: pytest.Config) -> None:
    global QUICK_RUN
    QUICK_RUN = "not slow" in (config.getoption("markexpr", "") or "")


def examples(n: int) -> int:
    """Hypothesis ``max_examples`` for a property test: ``n`` in the full run, a quarter of
    it (at least 10) in the quick run, which the full run backs with every example."""
    return max(10, n // 4) if QUICK_RUN else n


def run_cli(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    """``shadow-audit ARGS`` in a subprocess; by default in a scratch folder, so the
    default ``reports/`` of a command never lands in the repository."""
    with tempfile.TemporaryDirectory() as scratch:
        return subprocess.run(
            [sys.executable, "-m", "shadow_audit.cli", *args],
            capture_output=True,
            text=True,
            cwd=cwd or scratch,
            timeout=300,
        )


def audit_cli(
    source: Path, shadow: Path, out: Path, *args: str
) -> subprocess.CompletedProcess[str]:
    """``shadow-audit audit --source S --shadow D --out O ARGS`` in a subprocess; with
    ``--settle 0`` unless ARGS say otherwise (no writer runs: nothing to wait for)."""
    settle = () if "--settle" in args else ("--settle", "0")
    return run_cli(
        "audit", "--source", str(source), "--shadow", str(shadow), "--out", str(out), *args,
        *settle,
    )  # fmt: skip


def run_main(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    """``shadow-audit ARGS`` in this process, through ``shadow_audit.cli.main``: the same
    result as :func:`run_cli` (exit code, stdout, stderr with the CLI's log lines) without
    starting an interpreter and importing pandas again (about half a second each).

    For a command a test uses to set up or to read back; where the subject is the
    process itself (its exit status, a crash, a signal, a fresh import) use run_cli."""
    from shadow_audit.cli import main

    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    root.handlers.clear()  # so the CLI's logging set-up writes to the stderr captured here
    out, err = io.StringIO(), io.StringIO()
    with tempfile.TemporaryDirectory() as scratch:
        here = os.getcwd()
        os.chdir(cwd or scratch)
        try:
            with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
                try:
                    code = main(list(args))
                except SystemExit as exc:  # argparse: --help, a usage error
                    code = exc.code if isinstance(exc.code, int) else 2
        finally:
            os.chdir(here)
            root.handlers[:] = handlers
            root.setLevel(level)
    return subprocess.CompletedProcess(
        ["shadow-audit", *args], code, out.getvalue(), err.getvalue()
    )


def audit_main(
    source: Path, shadow: Path, out: Path, *args: str
) -> subprocess.CompletedProcess[str]:
    """:func:`audit_cli` in this process (:func:`run_main`)."""
    settle = () if "--settle" in args else ("--settle", "0")
    return run_main(
        "audit", "--source", str(source), "--shadow", str(shadow), "--out", str(out), *args,
        *settle,
    )  # fmt: skip


@contextlib.contextmanager
def read_only_file(path: Path) -> Iterator[None]:
    """Make a file really read-only, also for root (immutable attribute)."""
    if os.geteuid() != 0:
        os.chmod(path, 0o444)
        try:
            yield
        finally:
            os.chmod(path, 0o644)
        return
    done = subprocess.run(["chattr", "+i", str(path)], capture_output=True)
    if done.returncode != 0:
        pytest.skip("running as root on a filesystem without the immutable attribute")
    try:
        yield
    finally:
        subprocess.run(["chattr", "-i", str(path)], check=True)


def run_sql(db: Path, statement: str, *params: Any) -> list[tuple[Any, ...]]:
    """One statement through a plain sqlite3 client (as any out-of-band tool would run it),
    committed; its rows."""
    conn = sqlite3.connect(db)
    try:
        rows = conn.execute(statement, params).fetchall()
        conn.commit()
        return rows
    finally:
        conn.close()


@dataclass
class Store:
    """A JSON store and its shadow in tmp_path, with the writer that fills them."""

    root: Path
    source: Path
    db: Path
    writer: DualWriter
    projects: list[tuple[dict[str, Any], dict[str, Any]]]

    @property
    def ledger(self) -> FailureLedger:
        return self.writer.ledger

    def sql(self, statement: str, *params: Any) -> list[tuple[Any, ...]]:
        return run_sql(self.db, statement, *params)

    def manifest_path(self, pid: str) -> Path:
        return self.source / pid / "project_manifest.json"

    def memory_path(self, pid: str) -> Path:
        return self.source / pid / ".vibe" / "project_memory.json"


def make_store(root: Path, n: int = 5, *, seed: int = 1, reference_v2: bool = False) -> Store:
    db = root / "shadow.db"
    if reference_v2:
        conn = sqlite3.connect(db)
        conn.executescript(REFERENCE_V2_DDL)
        conn.close()
    shadow = SqliteShadow(db, create=not reference_v2)
    writer = DualWriter(JsonStore(root / "workspaces"), shadow)
    projects = make_projects(n, seed=seed, sessions=4, concepts=4, concerns=2)
    for manifest, memory in projects:
        writer.save_project(manifest, memory)
    return Store(root=root, source=root / "workspaces", db=db, writer=writer, projects=projects)


@pytest.fixture
def store(tmp_path: Path) -> Store:
    """Five projects, dual-written, clean."""
    return make_store(tmp_path)


@pytest.fixture
def project() -> Callable[[int], tuple[dict[str, Any], dict[str, Any]]]:
    """A fresh copy of generated project ``i``."""
    projects = make_projects(10, seed=3, sessions=3, concepts=3, concerns=2)
    return lambda i=0: copy.deepcopy(projects[i])


@pytest.fixture
def vibe_fixtures() -> Path:
    if not VIBE_FIXTURES.is_dir():
        pytest.skip("../shared/fixtures/vibe is not present on this machine")
    return VIBE_FIXTURES


def wait_for(condition: Callable[[], Any], what: str, timeout: float = 60.0) -> None:
    """Poll ``condition`` until it holds; fail naming ``what`` after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.005)
