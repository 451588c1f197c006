"""jsonschema checks for source documents: every error, each with its JSON Pointer."""

from __future__ import annotations

import copy
import json
import re
from dataclasses import dataclass
from datetime import datetime
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

import fastjsonschema
import orjson
from jsonschema import Draft202012Validator, FormatChecker

from shadow_audit.errors import SourceError, UsageError

DOCUMENT_KINDS = ("manifest", "memory")
_SCHEMA_FILES = {
    "manifest": "project_manifest.schema.json",
    "memory": "project_memory.schema.json",
    "audit_report": "audit_report.schema.json",
}
_RFC3339 = re.compile(r"\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})")

format_checker = FormatChecker()


@format_checker.checks("date-time")
def is_rfc3339_datetime(value: object) -> bool:
    """Check an RFC 3339 date-time with a mandatory offset, as the ``date-time`` format.

    Args:
        value: the instance; non-strings pass (the schema's type checks them).

    Returns:
        Whether the value is acceptable.
    """
    if not isinstance(value, str):
        return True
    if not _RFC3339.fullmatch(value):
        return False
    try:
        datetime.fromisoformat(value.upper().replace("Z", "+00:00"))
    except ValueError:
        return False
    return True


@dataclass(frozen=True)
class ValidationIssue:
    """One schema violation: where in the document, what is wrong, which rule."""

    pointer: str
    message: str
    schema_path: str

    def __str__(self) -> str:
        return f"{self.pointer or '/'}: {self.message}"

    def to_dict(self) -> dict[str, str]:
        """Return this ValidationIssue as plain data (JSON-ready)."""
        return {"pointer": self.pointer, "message": self.message, "schema_path": self.schema_path}


def to_pointer(parts: Any) -> str:
    """Return a JSON Pointer (RFC 6901) for a sequence of keys and indexes.

    Args:
        parts: the keys and indexes, outermost first.

    Returns:
        The pointer, ``""`` for the whole document.
    """
    return "".join("/" + str(p).replace("~", "~0").replace("/", "~1") for p in parts)


def schema_dir() -> Path:
    """Where the JSON Schemas are: inside the installed package, else the source tree."""
    packaged = resources.files("shadow_audit") / "schemas"
    if packaged.is_dir():
        return Path(str(packaged))
    return Path(__file__).resolve().parent.parent / "schemas"


@cache
def load_schema(name: str) -> dict[str, Any]:
    """Load a shipped schema by kind (``"manifest"``, ``"memory"``, ``"audit_report"``) or path.

    Args:
        name: a kind, or the path of a ``.json`` schema file.

    Returns:
        The schema.

    Raises:
        SourceError: the schema file cannot be read or is not JSON.
    """
    path = Path(name) if name.endswith(".json") else schema_dir() / _SCHEMA_FILES[name]
    try:
        schema: dict[str, Any] = orjson.loads(path.read_bytes())
    except OSError as exc:
        raise SourceError(f"schema {path}: cannot read: {exc.strerror}") from exc
    except orjson.JSONDecodeError as exc:
        raise SourceError(f"schema {path}: not JSON: {exc}") from exc
    return schema


@cache
def validator_for(name: str) -> Draft202012Validator:
    """Return the jsonschema validator (Draft 2020-12, with formats) for a schema, cached.

    Args:
        name: as for ``load_schema``.

    Returns:
        The validator.

    Raises:
        SourceError: the schema cannot be loaded.
        jsonschema.SchemaError: the schema itself is invalid.
    """
    schema = load_schema(name)
    Draft202012Validator.check_schema(schema)
    return Draft202012Validator(schema, format_checker=format_checker)


@cache
def _fast_validator(name: str) -> Any:
    # a copy: fastjsonschema rewrites the $refs of the schema it is given in place
    return fastjsonschema.compile(
        copy.deepcopy(load_schema(name)),
        formats={"date-time": is_rfc3339_datetime},
        use_default=False,
    )


def is_valid(document: Any, kind: str) -> bool:
    """Return a fast yes/no (compiled schema); ``validate_document`` gives the reasons.

    The compiled validator comes from a trusted, shipped or configured schema,
    never from document data. On a "no" the caller asks jsonschema for every
    error, which stays the authority on what is wrong.

    Args:
        document: the parsed document.
        kind: as for ``load_schema``.

    Returns:
        Whether the document is valid (a document nested too deeply is not).
    """
    try:
        _fast_validator(kind)(document)
    except fastjsonschema.JsonSchemaException:
        return False
    except RecursionError:
        return False
    return True


def validate_document(document: Any, kind: str) -> list[ValidationIssue]:
    """Return all violations of the schema for ``kind``, sorted by position in the document.

    Args:
        document: the parsed document.
        kind: as for ``load_schema``.

    Returns:
        The violations; empty when the document is valid.

    Raises:
        SourceError: the schema cannot be loaded.
    """
    errors = sorted(
        validator_for(kind).iter_errors(document), key=lambda e: [str(p) for p in e.absolute_path]
    )
    return [
        ValidationIssue(
            pointer=to_pointer(e.absolute_path),
            message=e.message,
            schema_path=to_pointer(e.absolute_schema_path),
        )
        for e in errors
    ]


class DuplicateKeyError(ValueError):
    """Two members of one JSON object share a name (parsers silently keep one of them)."""


def _unique_pairs(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    obj = dict(pairs)
    if len(obj) != len(pairs):
        seen: set[str] = set()
        for name, _ in pairs:
            if name in seen:
                raise DuplicateKeyError(f"duplicate key {name!r} in one object")
            seen.add(name)
    return obj


def parse_strict(data: bytes) -> Any:
    """Parse JSON refusing duplicate keys (stdlib json with a pairs hook; slower than orjson).

    Args:
        data: the document's bytes.

    Returns:
        The parsed document.

    Raises:
        DuplicateKeyError: an object names one member twice.
        ValueError: the bytes are not JSON.
    """
    return json.loads(data, object_pairs_hook=_unique_pairs)


def document_problems(data: bytes, schema: str | None) -> list[str] | None:
    """Return the duplicate keys and schema violations of a document's bytes.

    Args:
        data: the document's bytes.
        schema: a kind or schema path (see ``load_schema``); ``None`` checks keys only.

    Returns:
        One message per problem, empty when there is none; ``None`` when the bytes do
        not parse at all (the caller reports that, with line and column).
    """
    try:
        doc = parse_strict(data)
    except DuplicateKeyError as exc:
        return [f"/: {exc}"]
    except (ValueError, RecursionError):
        return None
    if schema is None:
        return []
    try:
        if is_valid(doc, schema):
            return []
        return [str(i) for i in validate_document(doc, schema)]
    except RecursionError:
        return ["/: nested too deeply to validate"]


def kind_from_filename(path: Path) -> str:
    """Tell a manifest from a memory by file name.

    Args:
        path: the document's file.

    Returns:
        ``"manifest"`` or ``"memory"``.

    Raises:
        UsageError: the name says neither.
    """
    name = path.name
    if name.endswith("manifest.json"):
        return "manifest"
    if name.endswith("memory.json"):
        return "memory"
    raise UsageError(f"{path}: cannot tell the document kind from the name; pass --kind")


def parse_json(data: bytes, where: str) -> Any:
    """Parse JSON bytes; a failure names the file, line and column.

    Args:
        data: the document's bytes.
        where: the file, for the message.

    Returns:
        The parsed document.

    Raises:
        SourceError: the bytes are not valid JSON.
    """
    try:
        return orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        raise SourceError(
            f"{where}: not valid JSON at line {exc.lineno}, column {exc.colno}: {exc.msg}"
        ) from exc
