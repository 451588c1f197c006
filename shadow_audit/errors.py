"""One exception family; the CLI maps it to exit codes in one place."""

from __future__ import annotations


class ShadowAuditError(Exception):
    """Base of every expected failure; ``exit_code`` tells the CLI what to return."""

    exit_code = 2


class UsageError(ShadowAuditError):
    """The caller asked for something that cannot be done as asked."""


class ConfigError(ShadowAuditError):
    """A mapping or TOML configuration is malformed."""


class SourceError(ShadowAuditError):
    """The JSON source folder or a file in it cannot be read."""


class DatabaseError(ShadowAuditError):
    """The SQLite database is missing, unreadable or not SQLite."""


class InvalidDocumentError(ShadowAuditError):
    """A document failed schema validation; nothing was written."""

    exit_code = 1

    def __init__(self, where: str, errors: list[str]) -> None:
        self.where = where
        self.errors = errors
        first = errors[0] if errors else "invalid"
        more = f" (+{len(errors) - 1} more)" if len(errors) > 1 else ""
        super().__init__(f"{where}: {first}{more}")
