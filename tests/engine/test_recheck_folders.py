"""The re-check finds a unit saved during the audit in a folder not named after its key.

The reference system names its workspace folders its own way (``agency_toolkit`` holds
``agency-toolkit-001``, DESIGN.md section 1), and ``DualWriter.save_project(...,
workspace=...)`` does the same. A project saved after the audit listed the source and
before it read the database is in the shadow only, as far as the pass knows; on the
locked re-read both stores hold it, so nothing may be reported.
"""

from __future__ import annotations

import copy
from collections.abc import Callable

import pytest

from shadow_audit.engine.run import audit
from tests.conftest import make_store


class SaveAtShadowRead:
    """A phased progress reporter that runs ``action`` once, as the pass begins to read
    the database (the source is listed by then)."""

    def __init__(self, action: Callable[[], object]) -> None:
        self.action = action
        self.done = False

    def __call__(self, n: int, /) -> None:
        pass

    def phase(self, name: str, *, total: int | None, unit: str) -> None:
        if name == "reading shadow" and not self.done:
            self.done = True
            self.action()


@pytest.mark.parametrize(
    "folder",
    [
        "brand-new-1",
        "brand_new_workspace",
    ],
)
def test_a_project_created_during_the_audit_is_no_finding(tmp_path, folder):
    store = make_store(tmp_path)
    manifest, memory = copy.deepcopy(store.projects[0])
    manifest["metadata"]["projectId"] = "brand-new-1"
    save = SaveAtShadowRead(lambda: store.writer.save_project(manifest, memory, workspace=folder))
    result = audit(store.source, store.db, progress=save)
    assert save.done
    assert result.status == "GREEN", [(f.kind, f.entity, f.key) for f in result.findings]
