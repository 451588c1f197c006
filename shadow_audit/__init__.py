"""shadow_audit: make a JSON -> SQLite migration safe."""

from typing import TYPE_CHECKING, Any

from shadow_audit.backfill import BackfillResult, backfill
from shadow_audit.dualwrite import DualWriter, SaveResult
from shadow_audit.errors import (
    ConfigError,
    DatabaseError,
    InvalidDocumentError,
    ShadowAuditError,
    SourceError,
    UsageError,
)
from shadow_audit.ledger import FailureLedger
from shadow_audit.mapping import DocumentMap, DocumentSpec, Entity, Field, build_documents
from shadow_audit.profiles import DEFAULT_DB_PATH, REFERENCE
from shadow_audit.store import Store, open_store
from shadow_audit.stores.json_store import JsonStore
from shadow_audit.stores.sqlite_shadow import SqliteShadow, connect_readonly
from shadow_audit.validation import ValidationIssue, validate_document

if TYPE_CHECKING:
    from shadow_audit.parity import assert_parity


def __getattr__(name: str) -> Any:
    """The audit side (pandas, deepdiff) loads on first use: an application that only
    writes through DualWriter does not pay for it at import."""
    if name == "assert_parity":
        from shadow_audit.parity import assert_parity

        return assert_parity
    raise AttributeError(f"module 'shadow_audit' has no attribute {name!r}")


__all__ = [
    "DEFAULT_DB_PATH",
    "REFERENCE",
    "BackfillResult",
    "ConfigError",
    "DatabaseError",
    "DocumentMap",
    "DocumentSpec",
    "DualWriter",
    "Entity",
    "FailureLedger",
    "Field",
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
    "backfill",
    "build_documents",
    "connect_readonly",
    "open_store",
    "validate_document",
]
