"""Paths into JSON documents, the one "absent" sentinel, and canonical JSON text."""

from __future__ import annotations

from typing import Any

import orjson

ELEMENT = "$"  # a path meaning "the array element itself" (set-like child tables)


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
