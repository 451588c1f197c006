"""Which source paths no column stores: a walk that only looks where the mapping does not."""

from __future__ import annotations

from collections import Counter
from typing import Any

from shadow_audit.mapping import DocumentMap, Field
from shadow_audit.mapping.cover import CoverNode, cover_tree

__all__ = ["CoverNode", "CoverageCounter", "cover_tree", "split_unmapped"]


class CoverageCounter:
    """Counts, per (document, path), the documents holding a path no column stores."""

    def __init__(self, trees: dict[str, CoverNode]) -> None:
        self.trees = trees
        self._known: dict[int, frozenset[str]] = {}  # id(node) -> its names, cached
        self.counts: Counter[tuple[str, str]] = Counter()

    def add(self, document: str, doc: Any) -> set[str]:
        """Count the unmapped paths of one document (each path once per document).

        Args:
            document: the document's kind (``manifest``, ``memory``).
            doc: the parsed document.

        Returns:
            The document's unmapped paths.
        """
        found: list[str] = []
        self._walk(doc, self.trees[document], found)
        if found:
            self.counts.update((document, p) for p in set(found))
        return set(found)

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


def split_unmapped(
    unmapped: dict[tuple[str, str], int],
    mapping: DocumentMap,
    present: dict[str, tuple[Field, ...]],
) -> tuple[tuple[dict[str, Any], ...], tuple[dict[str, Any], ...]]:
    """Paths no column stores, split into (lost, kept as extra JSON).

    A path is kept when its document has a rest column (``extra``) that the database
    has; the entry then names that column.

    Args:
        unmapped: {(document, path): how many documents hold it}.
        mapping: the map.
        present: per table, the compared columns the database has.

    Returns:
        (lost, kept), each sorted by document and path.
    """
    lost: list[dict[str, Any]] = []
    kept: list[dict[str, Any]] = []
    for (document, path), count in sorted(unmapped.items()):
        entry: dict[str, Any] = {"document": document, "path": path, "count": count}
        rest = mapping.rest_field(document)
        if rest is not None and rest[1] in present.get(rest[0].table, ()):
            kept.append({**entry, "column": f"{rest[0].table}.{rest[1].column}"})
        else:
            lost.append(entry)
    return tuple(lost), tuple(kept)
