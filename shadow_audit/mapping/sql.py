"""SQL identifiers: only checked plain names ever reach a statement."""

from __future__ import annotations

import re

from shadow_audit.errors import ConfigError

_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,62}")
SQL_TYPES = {
    "text": "TEXT",
    "integer": "INTEGER",
    "real": "REAL",
    "timestamp": "TEXT",
    "json": "TEXT",
}


def check_identifier(name: str, what: str) -> str:
    """Return a table or column name when it is a plain identifier, never arbitrary SQL.

    Args:
        name: the name.
        what: what it names, for the message.

    Returns:
        ``name`` unchanged.

    Raises:
        ConfigError: the name is not ``[A-Za-z_][A-Za-z0-9_]*``.
    """
    if not isinstance(name, str) or not _IDENT.fullmatch(name):
        raise ConfigError(f"{what} {name!r} is not a plain SQL identifier ([A-Za-z_][A-Za-z0-9_]*)")
    return name


def quote(name: str) -> str:
    """Quote a checked identifier for SQL.

    Args:
        name: a table or column name.

    Returns:
        The name in double quotes.

    Raises:
        ConfigError: the name is not a plain identifier.
    """
    return '"' + check_identifier(name, "identifier") + '"'
