"""Data shown to a person: control characters and escape sequences made visible.

Keys and values come from documents and databases an attacker may write. Any
text of theirs that reaches a terminal, a log line or a line-based report goes
through ``visible`` first, so it can neither start a new line nor move the
cursor, recolour the screen or forge a verdict.
"""

from __future__ import annotations

import re

# C0 and C1 controls, DEL, and the Unicode line/paragraph separators and
# bidirectional overrides that can reorder or break a displayed line.
_INVISIBLE = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]")
_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t", "\x1b": "\\e"}


def _show(match: re.Match[str]) -> str:
    char = match.group()
    return _NAMED.get(char) or f"\\u{ord(char):04x}"


def visible(text: str) -> str:
    """Return ``text`` with every control character written as an escape.

    Args:
        text: any text taken from a document, a database or a path.

    Returns:
        The same text on one line, with ``\\n``, ``\\r``, ``\\t``, ``\\e`` (ESC)
        and ``\\uXXXX`` in place of the characters a terminal would act on.
    """
    return _INVISIBLE.sub(_show, text)


def plural(n: int, word: str) -> str:
    """Return the count with its noun, singular for one: ``"1 file"``, ``"2 files"``;
    thousands grouped (``"145,500 findings"``), as a person reads a large count.

    Args:
        n: the count.
        word: the noun in the singular; the plural adds ``s``.

    Returns:
        For example ``"0 findings"``, ``"1 finding"``, ``"1,200 units"``.
    """
    return f"{n} {word}" if n == 1 else f"{n:,} {word}s"


_NUMBERS = re.compile(r"([0-9]+)")


def natural_key(text: str) -> tuple[tuple[int, int, str], ...]:
    """Return a sort key that orders the numbers inside ``text`` by value.

    Args:
        text: a key, a name or a path, such as ``"proj/10"``.

    Returns:
        A tuple that sorts ``"proj/2"`` before ``"proj/10"`` (plain ``sorted`` puts
        ``"proj/10"`` first); texts equal but for leading zeros keep a fixed order.
    """
    parts = _NUMBERS.split(text)
    return tuple(
        (0, int(part), part) if i % 2 else (1, 0, part) for i, part in enumerate(parts) if part
    )
