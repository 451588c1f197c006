"""shadow_audit: make a JSON -> SQLite migration safe.

``import shadow_audit as sa`` is the public API. Every name loads on first use,
so ``import shadow_audit`` costs almost nothing: an application that only writes
through ``sa.DualWriter`` never loads the audit side (pandas, deepdiff), and the
pytest plugin adds next to nothing to pytest's start-up.
"""

from __future__ import annotations

import importlib
import sys
from types import ModuleType
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from shadow_audit.backfill import BackfillResult, backfill
    from shadow_audit.config import load_config
    from shadow_audit.dualwrite import DualWriter, SaveResult
    from shadow_audit.engine.distributed import DaskEngine
    from shadow_audit.engine.findings import AuditResult, Finding
    from shadow_audit.engine.run import audit
    from shadow_audit.errors import (
        ConfigError,
        DatabaseError,
        InvalidDocumentError,
        ShadowAuditError,
        SourceError,
        UsageError,
    )
    from shadow_audit.frames import Frames, frames
    from shadow_audit.gate import GatePolicy
    from shadow_audit.gate import judge as decide_gate
    from shadow_audit.ledger import FailureLedger
    from shadow_audit.mapping import DocumentMap, DocumentSpec, Entity, Field, build_documents
    from shadow_audit.parity import assert_parity
    from shadow_audit.profiles import DEFAULT_DB_PATH, REFERENCE
    from shadow_audit.repair import plan_repair, repair
    from shadow_audit.store import Store, open_store
    from shadow_audit.stores.json_store import JsonStore
    from shadow_audit.stores.sqlite_shadow import SqliteShadow, connect_readonly
    from shadow_audit.validation import ValidationIssue, validate_document

# public name -> (module, name in that module)
_EXPORTS: dict[str, tuple[str, str]] = {
    # the audit side
    "audit": ("shadow_audit.engine.run", "audit"),
    "AuditResult": ("shadow_audit.engine.findings", "AuditResult"),
    "Finding": ("shadow_audit.engine.findings", "Finding"),
    "DaskEngine": ("shadow_audit.engine.distributed", "DaskEngine"),  # dask itself: lazily
    "frames": ("shadow_audit.frames", "frames"),
    "Frames": ("shadow_audit.frames", "Frames"),
    "assert_parity": ("shadow_audit.parity", "assert_parity"),
    "load_config": ("shadow_audit.config", "load_config"),
    "GatePolicy": ("shadow_audit.gate", "GatePolicy"),
    "decide_gate": ("shadow_audit.gate", "judge"),
    "plan_repair": ("shadow_audit.repair", "plan_repair"),
    "repair": ("shadow_audit.repair", "repair"),
    # the application's store in every cutover phase
    "open_store": ("shadow_audit.store", "open_store"),
    "Store": ("shadow_audit.store", "Store"),
    # the writer side
    "DualWriter": ("shadow_audit.dualwrite", "DualWriter"),
    "SaveResult": ("shadow_audit.dualwrite", "SaveResult"),
    "JsonStore": ("shadow_audit.stores.json_store", "JsonStore"),
    "SqliteShadow": ("shadow_audit.stores.sqlite_shadow", "SqliteShadow"),
    "connect_readonly": ("shadow_audit.stores.sqlite_shadow", "connect_readonly"),
    "FailureLedger": ("shadow_audit.ledger", "FailureLedger"),
    "backfill": ("shadow_audit.backfill", "backfill"),
    "BackfillResult": ("shadow_audit.backfill", "BackfillResult"),
    "ValidationIssue": ("shadow_audit.validation", "ValidationIssue"),
    "validate_document": ("shadow_audit.validation", "validate_document"),
    # the map
    "DocumentMap": ("shadow_audit.mapping", "DocumentMap"),
    "DocumentSpec": ("shadow_audit.mapping", "DocumentSpec"),
    "Entity": ("shadow_audit.mapping", "Entity"),
    "Field": ("shadow_audit.mapping", "Field"),
    "build_documents": ("shadow_audit.mapping", "build_documents"),
    "DEFAULT_DB_PATH": ("shadow_audit.profiles", "DEFAULT_DB_PATH"),
    "REFERENCE": ("shadow_audit.profiles", "REFERENCE"),
    # errors
    "ShadowAuditError": ("shadow_audit.errors", "ShadowAuditError"),
    "ConfigError": ("shadow_audit.errors", "ConfigError"),
    "DatabaseError": ("shadow_audit.errors", "DatabaseError"),
    "InvalidDocumentError": ("shadow_audit.errors", "InvalidDocumentError"),
    "SourceError": ("shadow_audit.errors", "SourceError"),
    "UsageError": ("shadow_audit.errors", "UsageError"),
}

__all__ = [
    "DEFAULT_DB_PATH",
    "REFERENCE",
    "AuditResult",
    "BackfillResult",
    "ConfigError",
    "DaskEngine",
    "DatabaseError",
    "DocumentMap",
    "DocumentSpec",
    "DualWriter",
    "Entity",
    "FailureLedger",
    "Field",
    "Finding",
    "Frames",
    "GatePolicy",
    "InvalidDocumentError",
    "JsonStore",
    "SaveResult",
    "ShadowAuditError",
    "SourceError",
    "SqliteShadow",
    "Store",
    "UsageError",
    "ValidationIssue",
    "assert_parity",
    "audit",
    "backfill",
    "build_documents",
    "connect_readonly",
    "decide_gate",
    "frames",
    "load_config",
    "open_store",
    "plan_repair",
    "repair",
    "validate_document",
]


def __getattr__(name: str) -> Any:
    """Load a public name on first use, then keep it as a plain attribute."""
    try:
        module, attribute = _EXPORTS[name]
    except KeyError:
        raise AttributeError(f"module 'shadow_audit' has no attribute {name!r}") from None
    value = getattr(importlib.import_module(module), attribute)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_EXPORTS})


class _Package(ModuleType):
    """``sa.backfill``, ``sa.frames`` and ``sa.repair`` are functions named like their module.

    After loading a submodule, the import system binds it on its package
    (``setattr(shadow_audit, "frames", <module>)``), which would shadow the
    function whenever the module is imported first. The function wins: that
    binding is dropped (the module stays in ``sys.modules``, so every form of
    ``from shadow_audit.frames import ...`` still works).
    """

    def __setattr__(self, name: str, value: Any) -> None:
        if isinstance(value, ModuleType) and _EXPORTS.get(name, ("", ""))[0] == value.__name__:
            return
        super().__setattr__(name, value)


sys.modules[__name__].__class__ = _Package
