"""Checks of many values at once, for ``quickcheck``: a column of an array's objects, the
items of an array of scalars. Each takes what one schema says and answers exactly as
checking the values one by one would (jsonschema's meaning), at C speed where it can:
one ``itemgetter`` per member, one type test per column, ``min``/``max`` for bounds.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from operator import itemgetter
from typing import Any

Check = Callable[[Any], bool]
# a check of many values at once, all of one exact type (a list, never empty)
Batch = Callable[[Sequence[Any]], bool]
# what a schema leaves to check of a value of exactly this type (None: nothing, it is valid)
Exact = dict[type, Batch | None]
BOUNDS = ("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum")
_DICT = {dict}


def string_batch(
    schema: dict[str, Any], *, enum: frozenset[str] | None, form: Check | None
) -> Batch | None:
    """The string keywords of a schema, as a check of many strings at once.

    Args:
        schema: the schema (``minLength``, ``maxLength``, ``pattern`` are read).
        enum: the strings it allows, or None.
        form: the check of its ``format``, or None.

    Returns:
        The check, or None when the schema says nothing more of a string.
    """
    low = schema.get("minLength", 0)
    high = schema.get("maxLength")
    search = re.compile(schema["pattern"]).search if "pattern" in schema else None
    if not low and high is None and search is None and form is None and enum is None:
        return None

    def batch(xs: Sequence[Any]) -> bool:
        if low and min(map(len, xs)) < low:
            return False
        if high is not None and max(map(len, xs)) > high:
            return False
        if search is not None and not all(map(search, xs)):  # a match is true
            return False
        if form is not None and not all(map(form, xs)):
            return False
        return enum is None or enum.issuperset(xs)

    return batch


def number_batch(schema: dict[str, Any], *, floats: bool) -> Batch | None:
    """The bounds of a schema, as a check of many ints (or many floats) at once.

    Args:
        schema: the schema.
        floats: the values are floats (checked one by one: NaN has no place in min()).

    Returns:
        The check, or None when the schema has no bound.
    """
    if not any(k in schema for k in BOUNDS):
        return None
    within = bounds_check(schema)
    if floats:
        return lambda xs: all(map(within, xs))
    return lambda xs: within(min(xs)) and within(max(xs))


def row_batch(
    members: dict[str, tuple[Check, Exact | None]], *, allowed: frozenset[str], each: Check
) -> Batch:
    """An array of closed objects whose members are all required, checked column by column.

    Each member's values are taken from every object at once (``itemgetter``, which also
    proves every name is there); a column of the first type its schema accepts needs
    only what that type leaves to check (a bound, a length), over the whole column;
    any other column is checked value by value by the member's compiled check.

    Args:
        members: the checked members: their compiled check, and what their schema
            leaves to check per exact type (``quickcheck``'s ``_exact``).
        allowed: every member's name (the keys each object must have, no more).
        each: the check of one object (for an array holding anything but plain dicts).

    Returns:
        The check of a list of such objects.
    """
    names = tuple(allowed)
    getters = [itemgetter(name) for name in names]
    size = len(names)
    plans: list[tuple[int, type | None, Batch | None, Check]] = []
    for name, (c, exact) in members.items():
        kind = next(iter(exact)) if exact else None  # the first type it accepts
        plans.append((names.index(name), kind, exact[kind] if exact and kind else None, c))

    def batch(xs: Sequence[Any]) -> bool:
        if {*map(type, xs)} != _DICT:  # some not a dict (or none at all)
            return all(map(each, xs))
        if sum(map(len, xs)) != size * len(xs):  # some object has another number of keys
            return False
        try:
            columns = [list(map(get, xs)) for get in getters]
        except KeyError:  # a name missing (so another one is there instead)
            return False
        for i, kind, left, c in plans:
            column = columns[i]
            if kind is not None and _all_of(kind, column):
                if left is not None and not left(column):
                    return False
            elif not all(map(c, column)):
                return False
        return True

    return batch


def _all_of(kind: type, xs: list[Any]) -> bool:
    """Whether every value is of type ``kind`` (for ``str``: a string, as one join proves)."""
    if kind is str:
        try:
            "".join(xs)
        except TypeError:
            return False
        return True
    return {*map(type, xs)} == {kind}


def scalar_batch(exact: Exact, item: Check) -> Batch:
    """The items of an array of a scalar schema: when all are of one type, checked at once.

    Args:
        exact: what the item schema leaves per exact type.
        item: the compiled check of one item (for anything else).

    Returns:
        The check of the array's items.
    """

    def every(xs: Sequence[Any]) -> bool:
        kinds = {*map(type, xs)}
        if len(kinds) == 1 and (t := kinds.pop()) in exact:
            r = exact[t]
            return True if r is None else r(xs)
        return all(map(item, xs))

    return every


def bounds_check(schema: dict[str, Any]) -> Check:
    """Whether a number (not a bool) breaks none of the schema's bounds, as jsonschema
    tests them: ``x < minimum`` and the like fail it, so NaN (no comparison true) passes.

    Args:
        schema: the schema (its ``minimum``, ``maximum`` and exclusive ones).

    Returns:
        The check of one number.
    """
    lo, xlo = schema.get("minimum"), schema.get("exclusiveMinimum")
    hi, xhi = schema.get("maximum"), schema.get("exclusiveMaximum")
    if xlo is None and xhi is None:
        if hi is None:
            return lambda x: not x < lo
        if lo is None:
            return lambda x: not x > hi
        return lambda x: not (x < lo or x > hi)
    return lambda x: (
        not (
            (lo is not None and x < lo)
            or (xlo is not None and x <= xlo)
            or (hi is not None and x > hi)
            or (xhi is not None and x >= xhi)
        )
    )
