"""Leaf values of a document and the law every upgrade obeys: each leaf of the legacy
document is found in the upgraded one (where the notes say it went) or is listed as
dropped with a reason."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

from shadow_audit.upgrade.model import Note
from shadow_audit.validation import to_pointer

_ABSENT = object()


def pointer(*parts: str | int) -> str:
    """The JSON Pointer (RFC 6901) of a path of keys and indexes.

    Args:
        parts: the keys and indexes, outermost first.

    Returns:
        The pointer, ``""`` for the whole document.
    """
    return to_pointer(parts)


def unescape(token: str) -> str:
    """Undo a JSON Pointer token's escapes (``~1`` is ``/``, ``~0`` is ``~``).

    Args:
        token: one token of a pointer.

    Returns:
        The key it names.
    """
    return token.replace("~1", "/").replace("~0", "~")


def resolve(document: Any, ptr: str) -> Any:
    """The value at ``ptr``, or ``_ABSENT`` when there is none.

    Args:
        document: the document.
        ptr: a JSON Pointer into it.

    Returns:
        The value, or ``_ABSENT``.
    """
    if ptr == "":
        return document
    node = document
    for raw in ptr.split("/")[1:]:
        token = unescape(raw)
        if isinstance(node, dict) and token in node:
            node = node[token]
        elif isinstance(node, list) and token.isdigit() and int(token) < len(node):
            node = node[int(token)]
        else:
            return _ABSENT
    return node


def leaves(document: Any, prefix: tuple[str | int, ...] = ()) -> Iterator[tuple[str, Any]]:
    """Every leaf as (pointer, value): scalars, null, and empty objects and lists.

    Args:
        document: the document (or a part of it).
        prefix: the keys and indexes leading to ``document``.

    Yields:
        ``(pointer, value)`` per leaf, in document order.
    """
    if isinstance(document, dict) and document:
        for key, value in document.items():
            yield from leaves(value, (*prefix, key))
    elif isinstance(document, list) and document:
        for index, value in enumerate(document):
            yield from leaves(value, (*prefix, index))
    else:
        yield to_pointer(prefix), document


def _same(a: Any, b: Any) -> bool:
    """Equal and of one JSON type; an empty object or list may since have gained members."""
    if isinstance(a, dict | list) and not a:
        return type(a) is type(b)
    return type(a) is type(b) and a == b


def _under(ptr: str, prefix: str) -> bool:
    return ptr == prefix or ptr.startswith(prefix + "/")


def unaccounted_leaves(
    before: Any, after: Any, notes_by_step: Sequence[Sequence[Note]]
) -> list[str]:
    """Leaves of ``before`` that are neither in ``after`` nor listed as dropped.

    Each leaf is followed through the steps in order: within one step the note with
    the longest source pointer above the leaf says where it went (a moved subtree
    carries its leaves along). A leaf no note mentions must be where it was, equal.

    Args:
        before: the legacy document.
        after: the upgraded document.
        notes_by_step: the notes of each step, in the order the steps ran.

    Returns:
        The pointers (in ``before``) of the leaves the upgrade would lose; empty when
        the law holds.
    """
    lost: list[str] = []
    for ptr, value in leaves(before):
        current, converted, dropped = ptr, False, False
        for notes in notes_by_step:
            best: Note | None = None
            for note in notes:
                if note.action in ("set", "refused") or note.source is None:
                    continue
                if _under(current, note.source) and (
                    best is None or len(note.source) > len(best.source or "")
                ):
                    best = note
            if best is None:
                continue
            if best.action == "dropped":
                dropped = True
                break
            current = (best.target or "") + current[len(best.source or "") :]
            converted = converted or best.action == "converted"
        if dropped:
            continue
        found = resolve(after, current)
        if found is _ABSENT or (not converted and not _same(found, value)):
            lost.append(ptr)
    return lost
