"""Both stores into rows keyed like the mapping says, each read on its own.

The source is enumerated and parsed here, not through the writer; the shadow
is read over a read-only connection. Rows are ``{key tuple: value tuple}``
per table, the cheapest shape to compare; ``frames`` turns them into
DataFrames for people.
"""

from __future__ import annotations

import gc
import os
import sqlite3
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import closing, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson
import pandas as pd

from shadow_audit.audit.findings import Finding
from shadow_audit.errors import SourceError
from shadow_audit.mapping import (
    MISSING,
    DocumentSpec,
    Entity,
    Field,
    Mapping,
    get_path,
    iter_rows,
    quote,
    split_path,
)
from shadow_audit.stores.sqlite_shadow import connect_readonly, table_columns
from shadow_audit.validation import is_valid, validate_document

Key = tuple[Any, ...]
Rows = dict[Key, tuple[Any, ...]]
Progress = Callable[[int], None]


@dataclass
class ShadowRows:
    """What the database holds, per table, for the compared columns it has."""

    rows: dict[str, Rows] = field(default_factory=dict)
    fields: dict[str, tuple[Field, ...]] = field(default_factory=dict)
    duplicates: list[Finding] = field(default_factory=list)
    excluded: dict[str, set[Any]] = field(default_factory=dict)
    missing_columns: list[dict[str, Any]] = field(default_factory=list)
    missing_tables: list[str] = field(default_factory=list)


@dataclass
class SourceRows:
    """What the documents say the database should hold, plus what could not be compared."""

    rows: dict[str, Rows] = field(default_factory=dict)
    problems: list[Finding] = field(default_factory=list)
    excluded: dict[str, set[Any]] = field(default_factory=dict)
    unmapped: Counter[tuple[str, str]] = field(default_factory=Counter)
    documents: int = 0


@contextmanager
def _gc_paused() -> Iterator[None]:
    """Parsing makes millions of objects that all live: the collector would only slow it."""
    was = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was:
            gc.enable()


def key_text(key: Key) -> str:
    return "/".join(str(k) for k in key)


def load_shadow(path: Path | str, mapping: Mapping) -> ShadowRows:
    """Read every mapped table (read-only); tables or columns it lacks are noted, not fatal."""
    out = ShadowRows()
    with closing(connect_readonly(path)) as conn:
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        for entity in mapping.entities:
            if entity.table not in tables:
                out.missing_tables.append(entity.table)
                continue
            present = set(table_columns(conn, entity.table))
            fields = []
            for f in entity.compared_fields:
                if f.column in present:
                    fields.append(f)
                else:
                    out.missing_columns.append(
                        {
                            "entity": entity.table,
                            "column": f.column,
                            "path": entity.source_path(f),
                            "document": entity.document,
                        }
                    )
            out.fields[entity.table] = tuple(fields)
            out.rows[entity.table] = _read_table(conn, mapping, entity, tuple(fields), out)
    return out


def _read_table(
    conn: sqlite3.Connection,
    mapping: Mapping,
    entity: Entity,
    fields: tuple[Field, ...],
    out: ShadowRows,
) -> Rows:
    t = quote(entity.table)
    values = [f"c.{quote(f.column)}" for f in fields]
    if entity.is_root:
        keys = [f"c.{quote(entity.key_column or '')}"]
        sql = f"SELECT {', '.join(keys + values)} FROM {t} c"
    else:
        parent = mapping.entity(entity.parent or "")
        link = f"c.{quote(entity.link_column or '')}"
        keys = [f"COALESCE(p.{quote(parent.key_column or '')}, '<orphan ' || {link} || '>')"]
        if entity.key_column:
            keys.append(f"c.{quote(entity.key_column)}")
        sql = (
            f"SELECT {', '.join(keys + values)} FROM {t} c LEFT JOIN {quote(parent.table)} p "
            f"ON {link} = p.{quote(entity.parent_column)}"
        )
    n = len(keys)
    fetched = conn.execute(sql).fetchall()
    with _gc_paused():
        rows = {(r[0],): r[1:] for r in fetched} if n == 1 else {r[:n]: r[n:] for r in fetched}
    if len(rows) != len(fetched):
        seen: Counter[Key] = Counter(r[:n] for r in fetched)
        for key, count in seen.items():
            if count > 1:
                out.duplicates.append(
                    Finding(
                        kind="duplicate_key",
                        entity=entity.table,
                        key=key_text(key),
                        document=entity.document,
                        detail=f"{count} rows in the shadow table",
                    )
                )
                rows.pop(key, None)
                out.excluded.setdefault(entity.table, set()).add(key)
    return rows


def load_source(
    source: Path | str,
    mapping: Mapping,
    fields: dict[str, tuple[Field, ...]],
    *,
    validate: bool = True,
    progress: Progress | None = None,
) -> SourceRows:
    """Parse, validate and project every document into expected rows for ``fields``."""
    root = Path(source)
    if not root.is_dir():
        raise SourceError(f"source folder {root}: not a readable folder")
    try:
        primaries = sorted(root.glob(mapping.primary.pattern))
    except OSError as exc:
        raise SourceError(f"source folder {root}: {exc.strerror}") from exc
    out = SourceRows(rows={e.table: {} for e in mapping.entities if e.table in fields})
    by_document = {
        d.name: [e for e in mapping.entities if e.document == d.name and e.table in fields]
        for d in mapping.documents()
    }
    covered = {name: _cover_tree(paths) for name, paths in mapping.covered_paths().items()}
    owner: dict[str, Path] = {}
    duplicated: set[str] = set()
    with _gc_paused():
        for primary in primaries:
            out.documents += 1
            doc, key = _read_valid(primary, mapping.primary, None, validate, out)
            if progress:
                progress(1)
            if doc is None:
                # left out of the comparison: its rows (under the key it names,
                # else its folder's name) are neither missing nor extra
                for table in out.rows:
                    out.excluded.setdefault(table, set()).add(key)
                continue
            if key in owner:
                duplicated.add(key)
                out.problems.append(
                    Finding(
                        kind="duplicate_key",
                        entity=mapping.root.table,
                        key=str(key),
                        path=mapping.primary.key_path,
                        document=mapping.primary.name,
                        detail=f"{owner[key]} and {primary} have the same key",
                    )
                )
                continue
            owner[key] = primary
            _project(doc, key, mapping.primary, by_document, fields, covered, out)
            for spec in mapping.companions:
                path = primary.parent / spec.pattern
                if not os.path.lexists(path):
                    continue
                companion, _ = _read_valid(path, spec, key, validate, out)
                if companion is None:
                    for e in by_document[spec.name]:
                        out.excluded.setdefault(e.table, set()).add(key)
                    continue
                _project(companion, key, spec, by_document, fields, covered, out)
    if duplicated:
        for table, rows in out.rows.items():
            out.rows[table] = {k: v for k, v in rows.items() if k[0] not in duplicated}
            out.excluded.setdefault(table, set()).update(duplicated)
    return out


def _read_valid(
    path: Path, spec: DocumentSpec, key: Any, validate: bool, out: SourceRows
) -> tuple[Any, Any]:
    """(document, key) for a valid document; (None, best key guess) after recording why not."""
    guess = key if key is not None else path.parent.name
    reasons: list[str] = []
    doc: Any = None
    try:
        doc = orjson.loads(path.read_bytes())
    except OSError as exc:
        reasons.append(f"cannot read: {exc.strerror or exc}")
    except orjson.JSONDecodeError as exc:
        reasons.append(f"not valid JSON at line {exc.lineno}, column {exc.colno}: {exc.msg}")
    if not reasons:
        if validate and spec.schema and not is_valid(doc, spec.schema):
            reasons = [str(i) for i in validate_document(doc, spec.schema)]
        found = get_path(doc, split_path(spec.key_path)) if spec.key_path else MISSING
        pointer = "/" + (spec.key_path or "").replace(".", "/")
        if key is None and isinstance(found, str) and found:
            guess = found
        elif key is None and spec.key_path:
            reasons.append(f"{pointer}: no document key")
        elif key is not None and spec.key_path and found != key:
            reasons.append(f"{pointer}: {found!r} is not the key {key!r} of its folder")
    if not reasons:
        return doc, guess
    out.problems.append(
        Finding(
            kind="invalid_source",
            entity=spec.name,
            key=str(guess),
            path=str(path),
            document=spec.name,
            detail=reasons,
        )
    )
    return None, guess


def _project(
    doc: Any,
    key: Any,
    spec: DocumentSpec,
    by_document: dict[str, list[Entity]],
    fields: dict[str, tuple[Field, ...]],
    covered: dict[str, Any],
    out: SourceRows,
) -> None:
    for entity in by_document[spec.name]:
        rows = out.rows[entity.table]
        for child_key, values in iter_rows(entity, doc, fields[entity.table]):
            row_key = (key,) if child_key is None else (key, child_key)
            if row_key in rows:
                out.problems.append(
                    Finding(
                        kind="duplicate_key",
                        entity=entity.table,
                        key=key_text(row_key),
                        path=entity.key_source_path,
                        document=spec.name,
                        detail="the key appears more than once in the source document",
                    )
                )
                out.excluded.setdefault(entity.table, set()).add(row_key)
                continue
            rows[row_key] = values
    _walk_uncovered(doc, covered[spec.name], "", spec.name, out.unmapped, set())


def _cover_tree(paths: set[str]) -> dict[str, Any]:
    """Covered paths as a tree; ``True`` marks a stored subtree."""
    tree: dict[str, Any] = {}
    for path in paths:
        node = tree
        parts = path.replace("[]", ".[]").split(".")
        for part in parts[:-1]:
            nxt = node.setdefault(part, {})
            if nxt is True:
                break
            node = nxt
        else:
            node[parts[-1]] = True
    return tree


def _walk_uncovered(
    obj: Any,
    node: Any,
    prefix: str,
    document: str,
    counter: Counter[tuple[str, str]],
    seen: set[str],
) -> None:
    if node is True:
        return
    if isinstance(obj, dict):
        for name, value in obj.items():
            child = node.get(name) if node else None
            path = f"{prefix}.{name}" if prefix else name
            if child is None:
                _count_path(value, path, document, counter, seen)
            elif child is not True:
                _walk_uncovered(value, child, path, document, counter, seen)
    elif isinstance(obj, list):
        child = node.get("[]") if node else None
        for value in obj:
            if child is None:
                _count_path(value, prefix + "[]", document, counter, seen)
            else:
                _walk_uncovered(value, child, prefix + "[]", document, counter, seen)
    if prefix == "":
        seen.clear()


def _count_path(
    value: Any, path: str, document: str, counter: Counter[tuple[str, str]], seen: set[str]
) -> None:
    if path not in seen:
        seen.add(path)
        counter[(document, path)] += 1


def frames(rows: Rows, entity: Entity, fields: tuple[Field, ...]) -> pd.DataFrame:
    """A DataFrame of rows: one column per key part, one per field."""
    key_names = [entity.key_column or "key"] if entity.is_root else ["mission_key"]
    if not entity.is_root and entity.key_column:
        key_names.append(entity.key_column)
    data = [(*k, *v) for k, v in rows.items()]
    return pd.DataFrame(data, columns=[*key_names, *(f.column for f in fields)])
