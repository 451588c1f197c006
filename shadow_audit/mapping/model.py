"""The declarative map between JSON documents and SQLite tables.

One ``DocumentMap`` drives everything: the writer projects documents into rows with
it, the auditor projects source documents into *expected* rows with it, the
coverage check lists the paths it does not store, and ``build_documents``
turns rows back into documents wherever the map is invertible.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from collections.abc import Mapping as MappingABC
from dataclasses import dataclass, field
from typing import Any, Literal

from shadow_audit.errors import ConfigError
from shadow_audit.mapping.paths import ELEMENT, POSITION, get_path, split_path
from shadow_audit.mapping.sql import check_identifier

FieldType = Literal["text", "integer", "real", "timestamp", "json"]
FIELD_TYPES: tuple[str, ...] = ("text", "integer", "real", "timestamp", "json")
Derivation = Callable[[MappingABC[str, Any]], Any]
DERIVATIONS: dict[str, Derivation] = {}


def derivation(name: str) -> Callable[[Derivation], Derivation]:
    """Register a named derivation; config files can only name registered ones.

    Args:
        name: the name config files use.

    Returns:
        A decorator that registers the function and returns it unchanged.
    """

    def register(fn: Derivation) -> Derivation:
        DERIVATIONS[name] = fn
        return fn

    return register


@dataclass(frozen=True)
class Field:
    """One column and where its value comes from.

    ``path`` is relative to the document (or to the array element for child
    tables); ``paths`` builds a JSON object from several paths; ``derive``
    names a registered derivation (not invertible); ``fill`` is a value the
    shadow fills at write time ("now"), never compared. ``path="#"`` stores the
    element's position in its list. ``rest`` makes the column keep, as JSON, every
    value of the document that no other column stores (``covers`` is filled in by
    the ``DocumentMap``: the paths the other columns store).
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
    rest: bool = False
    covers: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        check_identifier(self.column, "column")
        if self.type not in FIELD_TYPES:
            raise ConfigError(f"column {self.column}: unknown type {self.type!r}")
        sources = sum(
            x is not None and x != () for x in (self.path, self.paths or None, self.derive)
        ) + int(self.rest)
        if self.fill is None and sources != 1:
            raise ConfigError(
                f"column {self.column}: give exactly one of path, paths, derive, rest"
            )
        if self.rest and self.type != "json":
            raise ConfigError(f"column {self.column}: a rest column has type json")
        if self.derive is not None and self.derive not in DERIVATIONS:
            raise ConfigError(f"column {self.column}: unknown derivation {self.derive!r}")

    @property
    def compared(self) -> bool:
        """Whether the audit compares this column (a filled column is the shadow's own)."""
        return self.compare and self.fill is None

    @property
    def source_paths(self) -> tuple[str, ...]:
        """The document paths this column stores (empty for derived, filled, position
        and rest columns)."""
        if self.path == POSITION:
            return ()
        if self.path is not None:
            return (self.path,)
        return tuple(p for _, p in self.paths)

    @property
    def display_path(self) -> str:
        """The column's source as a person reads it: a path, ``{a,b}``, ``derived:...``."""
        if self.derive:
            return f"derived:{self.derive}"
        if self.rest:
            return "(unmapped values)"
        if self.paths:
            return "{" + ",".join(p for _, p in self.paths) + "}"
        return self.path or ""


@dataclass(frozen=True)
class Entity:
    """A table. A root entity has one row per document; a child entity has one
    row per element of ``rows_from`` (or one per document when it is None),
    linked to its parent's ``parent_column`` through ``link_column``.

    ``key_path="#"`` keys child rows by their list position (the key of a list whose
    elements carry no unique id); ``legacy_key`` = (column, path) is the key a
    database without the position column used instead (the reference system's v2).
    """

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
    legacy_key: tuple[str, str] | None = None

    def __post_init__(self) -> None:
        check_identifier(self.table, "table")
        for name in (self.key_column, self.link_column, self.parent_column):
            if name is not None:
                check_identifier(name, f"table {self.table}: column")
        if self.parent is not None and self.link_column is None:
            raise ConfigError(f"table {self.table}: a child table needs link_column")
        if self.rows_from is not None and (self.key_column is None or self.key_path is None):
            raise ConfigError(f"table {self.table}: rows_from needs key_column and key_path")
        for f in self.fields:
            if f.path == POSITION and self.rows_from is None:
                raise ConfigError(f"table {self.table}: column {f.column}: '#' needs rows_from")
            if f.rest and self.rows_from is not None:
                raise ConfigError(
                    f"table {self.table}: rest column {f.column} needs one row per document"
                )
        if self.legacy_key is not None and self.key_path != POSITION:
            raise ConfigError(f"table {self.table}: legacy_key only for a position key")

    def keyed_by_legacy(self) -> Entity:
        """This table as a database without the position column has it: keyed by
        ``legacy_key``, without the column that held the legacy key as a value."""
        if self.legacy_key is None:
            raise ConfigError(f"table {self.table}: no legacy key")
        column, path = self.legacy_key
        fields = tuple(f for f in self.fields if f.column != column)
        return dataclasses.replace(
            self, key_column=column, key_path=path, fields=fields, legacy_key=None
        )

    @property
    def order_field(self) -> Field | None:
        """The column holding each element's list position, when the key is not it."""
        return next((f for f in self.fields if f.path == POSITION), None)

    @property
    def is_root(self) -> bool:
        """Whether the table has one row per primary document (no parent table)."""
        return self.parent is None

    @property
    def compared_fields(self) -> tuple[Field, ...]:
        """The columns the audit compares, in table order."""
        return tuple(f for f in self.fields if f.compared)

    @property
    def projected_fields(self) -> tuple[Field, ...]:
        """The columns projected from the document (every column but the filled ones)."""
        return tuple(f for f in self.fields if f.fill is None)

    def field(self, column: str) -> Field:
        """Return this table's field for ``column``.

        Args:
            column: the column name.

        Returns:
            The field.

        Raises:
            KeyError: the table has no such column.
        """
        for f in self.fields:
            if f.column == column:
                return f
        raise KeyError(column)

    def source_path(self, fld: Field) -> str:
        """Return a field's path in document coordinates (``narrative[].summary``).

        Args:
            fld: one of this table's fields.

        Returns:
            The path, with ``[]`` for list elements and ``[#]`` for a position.
        """
        if self.rows_from is None:
            return fld.display_path
        base = f"{self.rows_from}[]"
        if fld.path == POSITION:
            return f"{self.rows_from}[#]"
        return base if fld.path == ELEMENT else f"{base}.{fld.display_path}"

    @property
    def key_source_path(self) -> str | None:
        """The row key's path in document coordinates (``narrative[#]``), or ``None``."""
        if self.key_path is None:
            return None
        if self.rows_from is None:
            return self.key_path
        if self.key_path == POSITION:
            return f"{self.rows_from}[#]"
        return f"{self.rows_from}[]" + ("" if self.key_path == ELEMENT else f".{self.key_path}")


@dataclass(frozen=True)
class DocumentSpec:
    """One kind of source document: how to find it, how to validate it.

    A companion is written at ``pattern`` (relative to its unit's folder) and
    also found at the ``also`` places; it belongs to the unit of its folder.
    """

    name: str
    pattern: str
    schema: str | None = None
    key_path: str | None = None
    also: tuple[str, ...] = ()

    @property
    def locations(self) -> tuple[str, ...]:
        """Where a companion may be, the place it is written first."""
        return (self.pattern, *self.also)

    def key_of(self, document: Any) -> Any:
        """Return the value at ``key_path`` in ``document`` (``MISSING`` when absent).

        Args:
            document: a parsed document of this kind.

        Returns:
            The document's key, as stored in the document.
        """
        return get_path(document, split_path(self.key_path or ""))


@dataclass(frozen=True)
class DocumentMap:
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
        covered = self.covered_paths()
        entities = tuple(
            dataclasses.replace(
                e,
                fields=tuple(
                    dataclasses.replace(f, covers=tuple(sorted(covered[e.document])))
                    if f.rest
                    else f
                    for f in e.fields
                ),
            )
            if any(f.rest for f in e.fields)
            else e
            for e in self.entities
        )
        object.__setattr__(self, "entities", entities)
        self._by_table.update({e.table: e for e in entities})

    def with_entity(self, entity: Entity) -> DocumentMap:
        """Return the same map with one table described differently (same name, same place).

        Args:
            entity: the new description; it replaces the table of the same name.

        Returns:
            A new map; this one is unchanged.
        """
        return DocumentMap(
            name=self.name,
            primary=self.primary,
            companions=self.companions,
            entities=tuple(entity if e.table == entity.table else e for e in self.entities),
        )

    def rest_field(self, document: str) -> tuple[Entity, Field] | None:
        """Return the column keeping a document's unmapped values, and its table, if any.

        Args:
            document: a document name (``manifest``, ``memory``).

        Returns:
            ``(entity, field)``, or ``None`` when the document's unmapped values are not kept.
        """
        for e in self.entities:
            if e.document == document:
                for f in e.fields:
                    if f.rest:
                        return e, f
        return None

    @property
    def roots(self) -> tuple[Entity, ...]:
        """The root tables (one row per primary document)."""
        return tuple(e for e in self.entities if e.is_root)

    @property
    def root(self) -> Entity:
        """The first root table: the one keyed by the primary document's key."""
        return self.roots[0]

    def entity(self, table: str) -> Entity:
        """Return the table named ``table``.

        Args:
            table: a table name of this map.

        Returns:
            The entity.

        Raises:
            ConfigError: the map has no such table.
        """
        try:
            return self._by_table[table]
        except KeyError:
            raise ConfigError(f"mapping {self.name}: no table {table!r}") from None

    def documents(self) -> tuple[DocumentSpec, ...]:
        """Return the document kinds: the primary first, then the companions."""
        return (self.primary, *self.companions)

    def covered_paths(self) -> dict[str, set[str]]:
        """Per document, the paths some column stores (a stored path covers its subtree)."""
        covered: dict[str, set[str]] = {d.name: set() for d in self.documents()}
        for d in self.documents():
            if d.key_path:
                covered[d.name].add(d.key_path)
        for e in self.entities:
            paths = covered[e.document]
            if e.key_source_path and e.key_path != POSITION:
                paths.add(e.key_source_path)
            base = f"{e.rows_from}[]" if e.rows_from else ""
            for f in e.fields:
                for p in f.source_paths:
                    paths.add(p if not base else base if p == ELEMENT else f"{base}.{p}")
        return covered
