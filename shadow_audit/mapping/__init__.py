"""The declarative map between JSON documents and SQLite tables.

One ``DocumentMap`` drives everything: the writer projects documents into rows
with it (``projection``), the auditor projects source documents into expected
rows with it, the coverage check lists the paths it does not store, and
``rebuild`` turns rows back into documents.
"""

from shadow_audit.mapping.cover import (
    CoverNode,
    cover_tree,
    merge_unmapped,
    unmapped_values,
)
from shadow_audit.mapping.model import (
    DERIVATIONS,
    FIELD_TYPES,
    DocumentMap,
    DocumentSpec,
    Entity,
    Field,
    FieldType,
    derivation,
)
from shadow_audit.mapping.paths import (
    ELEMENT,
    MISSING,
    POSITION,
    canonical_json,
    get_path,
    set_path,
    split_path,
)
from shadow_audit.mapping.projection import (
    Projector,
    Row,
    compile_projector,
    iter_rows,
    project_field,
)
from shadow_audit.mapping.rebuild import Rebuilder, TableRows, build_documents, compile_rebuilder
from shadow_audit.mapping.sql import SQL_TYPES, check_identifier, quote

__all__ = [
    "DERIVATIONS",
    "ELEMENT",
    "FIELD_TYPES",
    "MISSING",
    "POSITION",
    "SQL_TYPES",
    "CoverNode",
    "DocumentMap",
    "DocumentSpec",
    "Entity",
    "Field",
    "FieldType",
    "Projector",
    "Rebuilder",
    "Row",
    "TableRows",
    "build_documents",
    "canonical_json",
    "check_identifier",
    "compile_projector",
    "compile_rebuilder",
    "cover_tree",
    "derivation",
    "get_path",
    "iter_rows",
    "merge_unmapped",
    "project_field",
    "quote",
    "set_path",
    "split_path",
    "unmapped_values",
]
