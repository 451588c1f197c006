"""The declarative map between JSON documents and SQLite tables.

One ``Mapping`` drives everything: the writer projects documents into rows with
it, the auditor projects source documents into *expected* rows with it, the
coverage check lists the paths it does not store, and ``build_documents``
turns rows back into documents wherever the map is invertible.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from collections.abc import Mapping as MappingABC
from dataclasses import dataclass, field
from typing import Any, Literal

import orjson

from shadow_audit.errors import ConfigError

FieldType = Literal["text", "integer", "real", "timestamp", "json"]
FIELD_TYPES: tuple[str, ...] = ("text", "integer", "real", "timestamp", "json")
SQL_TYPES = {
    "text": "TEXT",
    "integer": "INTEGER",
    "real": "REAL",
    "timestamp": "TEXT",
    "json": "TEXT",
}
ELEMENT = "$"  # a path meaning "the array element itself" (set-like child tables)
_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,62}$")

Derivation = Callable[[MappingABC[str, Any]], Any]
DERIVATIONS: dict[str, Derivation] = {}


def derivation(name: str) -> Callable[[Derivation], Derivation]:
    """Register a named derivation; config files can only name registered ones."""

    def register(fn: Derivation) -> Derivation:
        DERIVATIONS[name] = fn
        return fn

    return register


def check_identifier(name: str, what: str) -> str:
    """Table and column names are plain identifiers, never arbitrary SQL."""
    if not _IDENT.match(name):
        raise ConfigError(f"{what} {name!r} is not a plain SQL identifier ([A-Za-z_][A-Za-z0-9_]*)")
    return name


def quote(name: str) -> str:
    """Quote a checked identifier for SQL."""
    return '"' + check_identifier(name, "identifier") + '"'


def canonical_json(value: Any, *, set_like: bool = False) -> str:
    """Canonical JSON text: sorted keys, no spaces; set-like lists sorted too."""
    if set_like and isinstance(value, list):
        value = sorted(value, key=canonical_json)
    try:
        return orjson.dumps(value, option=orjson.OPT_SORT_KEYS).decode()
    except TypeError:  # integers beyond 64 bits
        import json

        return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


class _Missing:
    def __repr__(self) -> str:
        return "<absent>"


MISSING: Any = _Missing()


def split_path(path: str) -> tuple[str, ...]:
    return () if path in ("", ELEMENT) else tuple(path.split("."))


def get_path(doc: Any, parts: tuple[str, ...]) -> Any:
    for part in parts:
        if not isinstance(doc, dict):
            return MISSING
        doc = doc.get(part, MISSING)
        if doc is MISSING:
            return MISSING
    return doc


def set_path(doc: dict[str, Any], parts: tuple[str, ...], value: Any) -> None:
    for part in parts[:-1]:
        doc = doc.setdefault(part, {})
    doc[parts[-1]] = value


@dataclass(frozen=True)
class Field:
    """One column and where its value comes from.

    ``path`` is relative to the document (or to the array element for child
    tables); ``paths`` builds a JSON object from several paths; ``derive``
    names a registered derivation (not invertible); ``fill`` is a value the
    shadow fills at write time ("now"), never compared.
    """

    column: str
    path: str | None = None
    type: FieldType = "text"
    paths: tuple[tuple[str, str], ...] = ()
    derive: str | None = None
    set_like: bool = False
    fill: str | None = None
    compare: bool = True
    abs_tol: float = 0.0
    rel_tol: float = 0.0
    null_equals_empty: bool = False
    choices: tuple[str, ...] = ()
    not_null: bool = False
    reference: bool = True

    def __post_init__(self) -> None:
        check_identifier(self.column, "column")
        if self.type not in FIELD_TYPES:
            raise ConfigError(f"column {self.column}: unknown type {self.type!r}")
        sources = sum(
            x is not None and x != () for x in (self.path, self.paths or None, self.derive)
        )
        if self.fill is None and sources != 1:
            raise ConfigError(f"column {self.column}: give exactly one of path, paths, derive")
        if self.derive is not None and self.derive not in DERIVATIONS:
            raise ConfigError(f"column {self.column}: unknown derivation {self.derive!r}")

    @property
    def compared(self) -> bool:
        return self.compare and self.fill is None

    @property
    def source_paths(self) -> tuple[str, ...]:
        """The document paths this column stores (empty for derived and filled columns)."""
        if self.path is not None:
            return (self.path,)
        return tuple(p for _, p in self.paths)

    @property
    def display_path(self) -> str:
        if self.derive:
            return f"derived:{self.derive}"
        if self.paths:
            return "{" + ",".join(p for _, p in self.paths) + "}"
        return self.path or ""


@dataclass(frozen=True)
class Entity:
    """A table. A root entity has one row per document; a child entity has one
    row per element of ``rows_from`` (or one per document when it is None),
    linked to its parent's ``parent_column`` through ``link_column``."""

    table: str
    document: str
    key_column: str | None
    fields: tuple[Field, ...]
    key_path: str | None = None
    key_type: FieldType = "text"
    parent: str | None = None
    link_column: str | None = None
    parent_column: str = "id"
    rows_from: str | None = None
    set_like: bool = False

    def __post_init__(self) -> None:
        check_identifier(self.table, "table")
        for name in (self.key_column, self.link_column, self.parent_column):
            if name is not None:
                check_identifier(name, f"table {self.table}: column")
        if self.parent is not None and self.link_column is None:
            raise ConfigError(f"table {self.table}: a child table needs link_column")
        if self.rows_from is not None and (self.key_column is None or self.key_path is None):
            raise ConfigError(f"table {self.table}: rows_from needs key_column and key_path")

    @property
    def is_root(self) -> bool:
        return self.parent is None

    @property
    def compared_fields(self) -> tuple[Field, ...]:
        return tuple(f for f in self.fields if f.compared)

    @property
    def projected_fields(self) -> tuple[Field, ...]:
        return tuple(f for f in self.fields if f.fill is None)

    def field(self, column: str) -> Field:
        for f in self.fields:
            if f.column == column:
                return f
        raise KeyError(column)

    def source_path(self, fld: Field) -> str:
        """A field's path in document coordinates (``narrative[].summary``)."""
        if self.rows_from is None:
            return fld.display_path
        base = f"{self.rows_from}[]"
        return base if fld.path == ELEMENT else f"{base}.{fld.display_path}"

    @property
    def key_source_path(self) -> str | None:
        if self.key_path is None:
            return None
        if self.rows_from is None:
            return self.key_path
        return f"{self.rows_from}[]" + ("" if self.key_path == ELEMENT else f".{self.key_path}")


@dataclass(frozen=True)
class DocumentSpec:
    """One kind of source document: how to find it, how to validate it."""

    name: str
    pattern: str
    schema: str | None = None
    key_path: str | None = None


@dataclass(frozen=True)
class Mapping:
    """Documents, the tables they are stored in, and how to get from one to the other.

    The primary document (found with ``primary.pattern``, a glob under the
    source folder) names the unit and its key; companions are files with a
    fixed name in the primary document's folder.
    """

    name: str
    primary: DocumentSpec
    entities: tuple[Entity, ...]
    companions: tuple[DocumentSpec, ...] = ()
    _by_table: dict[str, Entity] = field(default_factory=dict, compare=False, repr=False)

    def __post_init__(self) -> None:
        names = {self.primary.name, *(c.name for c in self.companions)}
        for e in self.entities:
            if e.table in self._by_table:
                raise ConfigError(f"table {e.table} is mapped twice")
            if e.document not in names:
                raise ConfigError(f"table {e.table}: unknown document {e.document!r}")
            if e.parent is not None and e.parent not in self._by_table:
                raise ConfigError(
                    f"table {e.table}: parent {e.parent!r} must be declared before it"
                )
            self._by_table[e.table] = e
        if not self.roots:
            raise ConfigError(f"mapping {self.name}: needs one root table")

    @property
    def roots(self) -> tuple[Entity, ...]:
        return tuple(e for e in self.entities if e.is_root)

    @property
    def root(self) -> Entity:
        return self.roots[0]

    def entity(self, table: str) -> Entity:
        try:
            return self._by_table[table]
        except KeyError:
            raise ConfigError(f"mapping {self.name}: no table {table!r}") from None

    def documents(self) -> tuple[DocumentSpec, ...]:
        return (self.primary, *self.companions)

    def covered_paths(self) -> dict[str, set[str]]:
        """Per document, the paths some column stores (a stored path covers its subtree)."""
        covered: dict[str, set[str]] = {d.name: set() for d in self.documents()}
        for d in self.documents():
            if d.key_path:
                covered[d.name].add(d.key_path)
        for e in self.entities:
            paths = covered[e.document]
            if e.key_source_path:
                paths.add(e.key_source_path)
            base = f"{e.rows_from}[]" if e.rows_from else ""
            for f in e.fields:
                for p in f.source_paths:
                    paths.add(p if not base else base if p == ELEMENT else f"{base}.{p}")
        return covered


def _to_storage(fld: Field, value: Any) -> Any:
    if value is MISSING:
        return None
    if fld.type == "json":
        return canonical_json(value, set_like=fld.set_like)
    if isinstance(value, dict | list):
        return canonical_json(value)
    return value


def project_field(fld: Field, source: Any, document: MappingABC[str, Any]) -> Any:
    """The stored form of one column for one row source (document or element)."""
    if fld.path is not None:
        return _to_storage(
            fld, source if fld.path == ELEMENT else get_path(source, split_path(fld.path))
        )
    if fld.paths:
        obj = {}
        for name, path in fld.paths:
            value = get_path(source, split_path(path))
            if value is not MISSING:
                obj[name] = value
        return canonical_json(obj)
    assert fld.derive is not None
    return _to_storage(fld, DERIVATIONS[fld.derive](document))


Row = tuple[Any, tuple[Any, ...]]  # (child key or None, values in ``fields`` order)


def iter_rows(
    entity: Entity, document: MappingABC[str, Any], fields: tuple[Field, ...]
) -> Iterator[Row]:
    """Rows of ``entity`` for one document, values for ``fields``."""
    if entity.rows_from is None:
        yield None, tuple(project_field(f, document, document) for f in fields)
        return
    items = get_path(document, split_path(entity.rows_from))
    if not isinstance(items, list):
        return
    key_parts = split_path(entity.key_path or ELEMENT)
    seen: set[Any] = set()
    for item in items:
        child_key = item if entity.key_path == ELEMENT else get_path(item, key_parts)
        if isinstance(child_key, dict | list) or child_key is MISSING:
            child_key = canonical_json(None if child_key is MISSING else child_key)
        if entity.set_like:
            if child_key in seen:
                continue
            seen.add(child_key)
        yield child_key, tuple(project_field(f, item, document) for f in fields)


def _from_storage(fld: Field, value: Any) -> Any:
    if fld.type == "json" or fld.paths:
        return orjson.loads(value) if isinstance(value, str | bytes) else value
    return value


def build_documents(
    mapping: Mapping, key: str, rows: MappingABC[str, list[tuple[Any, dict[str, Any]]]]
) -> dict[str, dict[str, Any]]:
    """Rebuild documents from rows (child key, {column: value}) per table.

    Derived and shadow-filled columns are skipped; a NULL column means the path
    was absent. Child arrays come back ordered by their key.
    """
    docs: dict[str, dict[str, Any]] = {}
    for d in mapping.documents():
        if (
            d.key_path
            and d.name != mapping.primary.name
            and not any(rows.get(e.table) for e in mapping.entities if e.document == d.name)
        ):
            continue
        docs[d.name] = {}
        if d.key_path:
            set_path(docs[d.name], split_path(d.key_path), key)
    for e in mapping.entities:
        table_rows = rows.get(e.table, [])
        if e.document not in docs or not table_rows:
            continue
        doc = docs[e.document]
        if e.rows_from is None:
            _fill(doc, e, table_rows[0][1])
            continue
        items = []
        for child_key, values in sorted(table_rows, key=lambda r: r[0]):
            if e.key_path == ELEMENT:
                items.append(child_key)
                continue
            item: dict[str, Any] = {}
            set_path(item, split_path(e.key_path or ""), child_key)
            _fill(item, e, values)
            items.append(item)
        set_path(doc, split_path(e.rows_from), items)
    return docs


def _fill(target: dict[str, Any], entity: Entity, values: MappingABC[str, Any]) -> None:
    for f in entity.fields:
        if f.derive or f.fill or f.column not in values or values[f.column] is None:
            continue
        value = _from_storage(f, values[f.column])
        if f.paths:
            for name, path in f.paths:
                if name in value:
                    set_path(target, split_path(path), value[name])
        elif f.path not in (None, ELEMENT):
            set_path(target, split_path(f.path or ""), value)
