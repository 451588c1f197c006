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

    Args:
        value: any JSON-ready value (integers beyond 64 bits too).
        set_like: sort a list as well.

    Returns:
        The text.
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
    """Split a dotted document path into its keys; the element and position paths have none.

    Args:
        path: a path such as ``status.projectPhase``.

    Returns:
        The keys, outermost first.
    """
    return () if path in ("", ELEMENT, POSITION) else tuple(path.split("."))


def get_path(doc: Any, parts: tuple[str, ...]) -> Any:
    """Return the value at a path of keys, or ``MISSING`` when any step is absent or not an object.

    Args:
        doc: the document (or a part of it).
        parts: the keys, as ``split_path`` gives them.

    Returns:
        The value, or ``MISSING``.
    """
    for part in parts:
        if not isinstance(doc, dict):
            return MISSING
        doc = doc.get(part, MISSING)
        if doc is MISSING:
            return MISSING
    return doc


def set_path(doc: dict[str, Any], parts: tuple[str, ...], value: Any) -> None:
    """Set the value at a path of keys, creating the objects on the way.

    Args:
        doc: the document to change, in place.
        parts: the keys, as ``split_path`` gives them (at least one).
        value: the value to set.
    """
    for part in parts[:-1]:
        doc = doc.setdefault(part, {})
    doc[parts[-1]] = value
