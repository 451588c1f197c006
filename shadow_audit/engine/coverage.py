"""Which source paths no column stores: a walk that only looks where the mapping does not."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any


@dataclass
class CoverNode:
    """Stored names at this level, nested levels, and what array elements are."""

    terminal: set[str] = field(default_factory=set)
    nested: dict[str, CoverNode] = field(default_factory=dict)
    item: CoverNode | bool | None = None
    path: str = ""

    @property
    def known(self) -> frozenset[str]:
        return frozenset(self.terminal | set(self.nested))


def cover_tree(paths: set[str]) -> CoverNode:
    """``a.b``, ``a[].b``, ``a[]`` paths as a tree; a stored path covers its whole subtree."""
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


class CoverageCounter:
    """Counts, per (document, path), the documents holding a path no column stores."""

    def __init__(self, trees: dict[str, CoverNode]) -> None:
        self.trees = trees
        self._known: dict[int, frozenset[str]] = {}  # id(node) -> its names, cached
        self.counts: Counter[tuple[str, str]] = Counter()

    def add(self, document: str, doc: Any) -> None:
        found: list[str] = []
        self._walk(doc, self.trees[document], found)
        if found:
            self.counts.update((document, p) for p in set(found))

    def _names(self, node: CoverNode) -> frozenset[str]:
        names = self._known.get(id(node))
        if names is None:
            names = self._known[id(node)] = node.known
        return names

    def _walk(self, obj: Any, node: CoverNode, found: list[str]) -> None:
        if type(obj) is dict:
            extra = obj.keys() - self._names(node)
            if extra:
                found.extend(f"{node.path}.{name}" if node.path else name for name in extra)
            for name, child in node.nested.items():
                if name in obj:
                    self._walk(obj[name], child, found)
        elif type(obj) is list and obj:
            item = node.item
            if item is True:
                return
            if not isinstance(item, CoverNode):
                found.append(node.path + "[]")
                return
            if not item.nested:
                try:
                    extra = set().union(*map(dict.keys, obj)) - self._names(item)
                except TypeError:
                    pass
                else:
                    found.extend(f"{item.path}.{name}" for name in extra)
                    return
            for value in obj:
                self._walk(value, item, found)
