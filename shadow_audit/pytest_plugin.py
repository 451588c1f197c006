"""pytest plugin (entry point ``pytest11``): parity assertions, fixtures, options, a marker.

- ``assert_parity(source, shadow, ...)``: import it from ``shadow_audit`` or here;
- fixture ``shadow_workspace``: a temporary JSON store, SQLite shadow and writer;
- fixture ``shadow_audit``: a callable that audits and returns the ``AuditResult``;
- options ``--shadow-audit-source``, ``--shadow-audit-shadow``, ``--shadow-audit-config``
  and the marker ``shadow_parity(source=..., shadow=..., config=...)``: a marked test
  also asserts parity of that store (the marker's keywords win over the options).

pytest loads this module at every start of every suite in an environment where
shadow_audit is installed, so it imports nothing heavy: the audit side (pandas,
deepdiff), the writer and the stores load inside the hooks and fixtures that use them.
"""

from __future__ import annotations

from collections.abc import Callable, Generator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from shadow_audit.dualwrite import DualWriter
    from shadow_audit.engine.findings import AuditResult
    from shadow_audit.parity import assert_parity
    from shadow_audit.stores.json_store import JsonStore
    from shadow_audit.stores.sqlite_shadow import SqliteShadow

__all__ = ["ShadowWorkspace", "assert_parity"]

MARKER_KEYWORDS = ("source", "shadow", "config")


def __getattr__(name: str) -> Any:
    """``assert_parity`` loads the audit side on first use, not when pytest starts."""
    if name == "assert_parity":
        from shadow_audit.parity import assert_parity

        return assert_parity
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def pytest_addoption(parser: pytest.Parser) -> None:
    """Add the ``shadow-audit`` option group.

    Args:
        parser: pytest's command-line and ini parser.
    """
    group = parser.getgroup("shadow-audit", "shadow-audit parity checks")
    group.addoption(
        "--shadow-audit-source", help="JSON store folder for @pytest.mark.shadow_parity"
    )
    group.addoption("--shadow-audit-shadow", help="SQLite shadow for @pytest.mark.shadow_parity")
    group.addoption("--shadow-audit-config", help="TOML config (mapping, tolerances, ignore rules)")


def pytest_configure(config: pytest.Config) -> None:
    """Register the ``shadow_parity`` marker.

    Args:
        config: the pytest configuration.
    """
    config.addinivalue_line(
        "markers",
        "shadow_parity(source=None, shadow=None, config=None): after the test, assert that "
        "the shadow equals the JSON store (keywords only; paths default to "
        "--shadow-audit-source/-shadow/-config)",
    )


def _configured(item: pytest.Item) -> tuple[str, str, str | None] | None:
    """(source, shadow, config) a ``shadow_parity`` test asserts; None when unmarked.

    A marker with positional arguments, or keywords it does not know, fails the
    test: silently ignoring them would check whatever store the options name.
    """
    marker = item.get_closest_marker("shadow_parity")
    if marker is None:
        return None
    if marker.args:
        shown = ", ".join(repr(a) for a in marker.args)
        pytest.fail(
            f"@pytest.mark.shadow_parity({shown}): the marker takes keywords only, "
            "e.g. shadow_parity(source='workspaces', shadow='state.db')",
            pytrace=False,
        )
    unknown = sorted(set(marker.kwargs) - set(MARKER_KEYWORDS))
    if unknown:
        pytest.fail(
            f"@pytest.mark.shadow_parity: unknown keyword {', '.join(unknown)} "
            f"(known: {', '.join(MARKER_KEYWORDS)})",
            pytrace=False,
        )
    opts = item.config.option
    source = marker.kwargs.get("source") or opts.shadow_audit_source
    shadow = marker.kwargs.get("shadow") or opts.shadow_audit_shadow
    if not source or not shadow:
        pytest.skip(
            "shadow_parity: no store configured (--shadow-audit-source/--shadow-audit-shadow)"
        )
    return str(source), str(shadow), marker.kwargs.get("config") or opts.shadow_audit_config


def pytest_runtest_setup(item: pytest.Item) -> None:
    """Skip or fail a ``shadow_parity`` test before it runs when its store is not usable.

    Args:
        item: the test about to run.
    """
    _configured(item)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Generator[None, Any, Any]:
    """After a ``shadow_parity`` test passes, assert the parity of its store.

    Args:
        item: the test being run.

    Yields:
        Control to the test itself.
    """
    outcome = yield
    store = _configured(item)
    if store is not None:
        from shadow_audit.parity import assert_parity

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
        """Assert that this workspace's shadow equals its JSON store.

        Args:
            **options: ``mapping``, ``ignore`` and ``tolerance``, as for
                ``shadow_audit.assert_parity``.

        Returns:
            The audit's result (GREEN).

        Raises:
            AssertionError: the audit is not GREEN; the message lists what differs.
        """
        from shadow_audit.parity import assert_parity

        return assert_parity(self.source, self.shadow, **options)


@pytest.fixture
def shadow_workspace(tmp_path: Path) -> ShadowWorkspace:
    """An empty store and shadow, ready for ``writer.save_project(manifest, memory)``.

    Args:
        tmp_path: pytest's temporary folder for the test.

    Returns:
        A ``ShadowWorkspace``: ``source`` folder, ``shadow`` database, ``store``,
        ``db`` and the ``writer`` between them.
    """
    from shadow_audit.dualwrite import DualWriter
    from shadow_audit.stores.json_store import JsonStore
    from shadow_audit.stores.sqlite_shadow import SqliteShadow

    source, shadow = tmp_path / "workspaces", tmp_path / "shadow.db"
    store, db = JsonStore(source), SqliteShadow(shadow)
    source.mkdir()
    return ShadowWorkspace(tmp_path, source, shadow, store, db, DualWriter(store, db))


@pytest.fixture
def shadow_audit(request: pytest.FixtureRequest) -> Callable[..., AuditResult]:
    """``shadow_audit(source, shadow, mapping=None, ignore=(), tolerance=None)`` -> AuditResult.

    Args:
        request: pytest's request, for the ``--shadow-audit-*`` options.

    Returns:
        A function that audits and returns the ``AuditResult`` whatever its status.
        Source and shadow default to ``--shadow-audit-source`` /
        ``--shadow-audit-shadow``, the mapping to ``--shadow-audit-config``; it raises
        ValueError when neither gives a store.
    """
    opts = request.config.option

    def run(
        source: str | Path | None = None, shadow: str | Path | None = None, **options: Any
    ) -> AuditResult:
        from shadow_audit.engine.run import audit
        from shadow_audit.parity import build_config

        source = source or opts.shadow_audit_source
        shadow = shadow or opts.shadow_audit_shadow
        if not source or not shadow:
            raise ValueError("shadow_audit(source, shadow): no store given or configured")
        options.setdefault("mapping", opts.shadow_audit_config)
        return audit(source, shadow, config=build_config(**options))

    return run
