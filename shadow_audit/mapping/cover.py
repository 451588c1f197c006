"""What the map stores of a document, as a tree, and the rest: the values no column holds.

``cover_tree`` turns the stored paths (``a.b``, ``a[].b``, ``a[]``) into a tree;
``unmapped_values`` walks a document along it and returns only what no column
stores, shaped like the document (a list that child rows store comes back as
``{"<position>": rest of that element}``); ``merge_unmapped`` puts such a rest
back into a document rebuilt from rows. Together they make the round trip whole.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cache
from typing import Any

from shadow_audit.mapping.paths import MISSING


@dataclass
class CoverNode:
    """Stored names at this level, nested levels, and what array elements are."""

    terminal: set[str] = field(default_factory=set)
    nested: dict[str, CoverNode] = field(default_factory=dict)
    item: CoverNode | bool | None = None
    path: str = ""

    @property
    def known(self) -> frozenset[str]:
        """The names this node covers or descends into."""
        return frozenset(self.terminal | set(self.nested))


def cover_tree(paths: set[str] | frozenset[str] | tuple[str, ...]) -> CoverNode:
    """``a.b``, ``a[].b``, ``a[]`` paths as a tree; a stored path covers its whole subtree.

    Args:
        paths: the stored paths.

    Returns:
        The root of the tree.
    """
    root = CoverNode()
    for path in sorted(paths):
        node = root
        parts = path.split(".")
        for i, part in enumerate(parts):
            last = i == len(parts) - 1
            is_array = part.endswith("[]")
            name = part[:-2] if is_array else part
            if name in node.terminal:
                break
            if last and not is_array:
                node.terminal.add(name)
                node.nested.pop(name, None)
                break
            here = f"{node.path}.{name}" if node.path else name
            child = node.nested.setdefault(name, CoverNode(path=here))
            if not is_array:
                node = child
                continue
            if last:
                child.item = True
                break
            if child.item is True:
                break
            if not isinstance(child.item, CoverNode):
                child.item = CoverNode(path=here + "[]")
            node = child.item
    return root


@cache
def cached_cover_tree(paths: tuple[str, ...]) -> CoverNode:
    """``cover_tree`` once per set of paths (a rest column asks for it on every row)."""
    return cover_tree(paths)


def unmapped_values(document: Any, tree: CoverNode) -> Any:
    """Every value of ``document`` that no column under ``tree`` stores; MISSING if none.

    Kept besides unknown keys: an explicit ``null`` where a column stores a value (a
    NULL column reads back as "absent"), an empty object or list where the map
    expects children (no row stands for it), and a value of another shape than the
    map expects (an object where it reads a list, say): whole.

    Args:
        document: the document (or a part of it).
        tree: the paths covered at this level.

    Returns:
        The unmapped values in the document's shape, or ``MISSING``.
    """
    if type(document) is not dict:
        return document
    rest = _object_rest(document, tree)
    return MISSING if rest is MISSING or rest == {} else rest


def _object_rest(obj: dict[str, Any], node: CoverNode) -> Any:
    if not obj:
        return {}
    out: dict[str, Any] = {}
    terminal, nested = node.terminal, node.nested
    for name, value in obj.items():
        if name in terminal:
            if value is None:
                out[name] = None
            continue
        child = nested.get(name)
        if child is None:
            out[name] = value
            continue
        rest = _list_rest(value, child) if child.item is not None else _value_rest(value, child)
        if rest is not MISSING:
            out[name] = rest
    return out or MISSING


def _value_rest(value: Any, node: CoverNode) -> Any:
    if type(value) is not dict:
        return value
    return _object_rest(value, node)


def _list_rest(value: Any, node: CoverNode) -> Any:
    if type(value) is not list:
        return value
    if not value:
        return []
    item = node.item
    if not isinstance(item, CoverNode):
        return MISSING
    flat = not item.nested  # elements of only stored scalars: one C-level check each
    names = item.terminal
    patches = {}
    for i, element in enumerate(value):
        if (
            flat
            and type(element) is dict
            and element
            and element.keys() <= names
            and None not in element.values()
        ):
            continue
        rest = _value_rest(element, item)
        if rest is not MISSING:
            patches[str(i)] = rest
    return patches or MISSING


def merge_unmapped(document: dict[str, Any], rest: Any) -> None:
    """Put what ``unmapped_values`` kept back into a document rebuilt from rows.

    Args:
        document: the rebuilt document, changed in place.
        rest: what ``unmapped_values`` kept.
    """
    if type(rest) is not dict:
        return
    for name, value in rest.items():
        if name not in document:
            document[name] = value
            continue
        current = document[name]
        if type(current) is dict and type(value) is dict:
            merge_unmapped(current, value)
        elif type(current) is list and type(value) is dict:
            for index, patch in value.items():
                i = int(index)
                if i >= len(current):
                    current.extend([None] * (i + 1 - len(current)))
                if type(current[i]) is dict and type(patch) is dict:
                    merge_unmapped(current[i], patch)
                else:
                    current[i] = patch
        else:
            document[name] = value
