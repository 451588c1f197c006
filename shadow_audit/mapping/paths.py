"""Paths into JSON documents, the one "absent" sentinel, and canonical JSON text."""

from __future__ import annotations

from typing import Any

import orjson

ELEMENT = "$"  # a path meaning "the array element itself" (set-like child tables)
POSITION = "#"  # a path meaning "the element's position in its list" (0-based)


def canonical_json(value: Any, *, set_like: bool = False) -> str:
    """Canonical JSON text: sorted keys, no spaces.

    ``set_like`` sorts a list too: for comparing only, never for storing (the stored
    text keeps the list in the order the document has it).
    """
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
    return () if path in ("", ELEMENT, POSITION) else tuple(path.split("."))


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
