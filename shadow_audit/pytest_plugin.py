"""pytest plugin (entry point ``pytest11``): parity assertions, fixtures, options, a marker.

- ``assert_parity(source, shadow, ...)``: import it from ``shadow_audit`` or here;
- fixture ``shadow_workspace``: a temporary JSON store, SQLite shadow and writer;
- fixture ``shadow_audit``: a callable that audits and returns the ``AuditResult``;
- options ``--shadow-audit-source``, ``--shadow-audit-shadow``, ``--shadow-audit-config``
  and the marker ``shadow_parity``: a marked test also asserts parity of that store.
"""

from __future__ import annotations

from collections.abc import Callable, Generator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from shadow_audit.dualwrite import DualWriter
from shadow_audit.engine.findings import AuditResult
from shadow_audit.parity import assert_parity, build_config
from shadow_audit.stores.json_store import JsonStore
from shadow_audit.stores.sqlite_shadow import SqliteShadow

__all__ = ["ShadowWorkspace", "assert_parity"]


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("shadow-audit", "shadow-audit parity checks")
    group.addoption(
        "--shadow-audit-source", help="JSON store folder for @pytest.mark.shadow_parity"
    )
    group.addoption("--shadow-audit-shadow", help="SQLite shadow for @pytest.mark.shadow_parity")
    group.addoption("--shadow-audit-config", help="TOML config (mapping, tolerances, ignore rules)")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "shadow_parity(source=None, shadow=None): after the test, assert that the shadow "
        "equals the JSON store (paths from the marker or --shadow-audit-source/-shadow)",
    )


def _configured(item: pytest.Item) -> tuple[str, str, str | None] | None:
    marker = item.get_closest_marker("shadow_parity")
    if marker is None:
        return None
    opts = item.config.option
    source = marker.kwargs.get("source") or opts.shadow_audit_source
    shadow = marker.kwargs.get("shadow") or opts.shadow_audit_shadow
    if not source or not shadow:
        pytest.skip(
            "shadow_parity: no store configured (--shadow-audit-source/--shadow-audit-shadow)"
        )
    return str(source), str(shadow), marker.kwargs.get("config") or opts.shadow_audit_config


def pytest_runtest_setup(item: pytest.Item) -> None:
    _configured(item)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Generator[None, Any, Any]:
    outcome = yield
    store = _configured(item)
    if store is not None:
        source, shadow, config = store
        assert_parity(source, shadow, mapping=config)
    return outcome


@dataclass
class ShadowWorkspace:
    """A JSON store, its SQLite shadow and the writer between them, in a temporary folder."""

    root: Path
    source: Path
    shadow: Path
    store: JsonStore
    db: SqliteShadow
    writer: DualWriter

    def assert_parity(self, **options: Any) -> AuditResult:
        return assert_parity(self.source, self.shadow, **options)


@pytest.fixture
def shadow_workspace(tmp_path: Path) -> ShadowWorkspace:
    """An empty store and shadow, ready for ``writer.save_project(manifest, memory)``."""
    source, shadow = tmp_path / "workspaces", tmp_path / "shadow.db"
    store, db = JsonStore(source), SqliteShadow(shadow)
    source.mkdir()
    return ShadowWorkspace(tmp_path, source, shadow, store, db, DualWriter(store, db))


@pytest.fixture
def shadow_audit(request: pytest.FixtureRequest) -> Callable[..., AuditResult]:
    """``shadow_audit(source, shadow, mapping=None, ignore=(), tolerance=None)`` -> AuditResult.

    Source and shadow default to ``--shadow-audit-source`` / ``--shadow-audit-shadow``.
    """
    from shadow_audit.engine.run import audit

    opts = request.config.option

    def run(
        source: str | Path | None = None, shadow: str | Path | None = None, **options: Any
    ) -> AuditResult:
        source = source or opts.shadow_audit_source
        shadow = shadow or opts.shadow_audit_shadow
        if not source or not shadow:
            raise ValueError("shadow_audit(source, shadow): no store given or configured")
        options.setdefault("mapping", opts.shadow_audit_config)
        return audit(source, shadow, config=build_config(**options))

    return run
