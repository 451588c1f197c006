"""What an upgrade step is, what it says about the values it touches, and its context."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, timedelta, timezone, tzinfo
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from shadow_audit.errors import UsageError

Action = Literal["moved", "converted", "dropped", "set", "refused"]
_OFFSET = re.compile(r"([+-])(\d{2}):?(\d{2})")


@dataclass(frozen=True)
class Note:
    """One thing a step did to one value (or could not do).

    ``moved``: the value now lives at ``target``, unchanged. ``converted``: it lives at
    ``target`` in a new form (a timestamp with an offset, a session number parsed from
    an id). ``dropped``: it is gone, ``detail`` says why. ``set``: a value with no source
    was put at ``target``. ``refused``: the step cannot bring ``source`` forward, so the
    document is left as it is. Pointers are JSON Pointers into the document before
    (``source``) and after (``target``) the step.
    """

    action: Action
    source: str | None
    target: str | None
    detail: str
    value: Any = None

    def __str__(self) -> str:
        where = self.target if self.action == "set" else self.source
        return f"{self.action} {where}: {self.detail}"


@dataclass(frozen=True)
class AssumedTimezone:
    """The zone the user says naive timestamps were written in (``--assume-timezone``)."""

    name: str
    zone: tzinfo


def parse_timezone(text: str) -> AssumedTimezone:
    """A zoneinfo name (``Europe/Berlin``), ``UTC``/``Z``, or an offset (``+01:00``).

    Args:
        text: what the user passed.

    Returns:
        The zone, under the name the user gave it.

    Raises:
        UsageError: neither a known zone nor a valid offset.
    """
    if text in ("Z", "z", "UTC"):
        return AssumedTimezone(name=text, zone=UTC)
    match = _OFFSET.fullmatch(text)
    if match:
        sign, hours, minutes = match.groups()
        if int(hours) < 24 and int(minutes) < 60:
            delta = timedelta(hours=int(hours), minutes=int(minutes))
            return AssumedTimezone(name=text, zone=timezone(-delta if sign == "-" else delta))
    else:
        try:
            return AssumedTimezone(name=text, zone=ZoneInfo(text))
        except (ZoneInfoNotFoundError, ValueError, OSError):
            pass
    raise UsageError(
        f"--assume-timezone {text!r}: not a zoneinfo name (e.g. Europe/Berlin) "
        "or an offset (e.g. +01:00)"
    )


@dataclass(frozen=True)
class StepContext:
    """What a step may know besides the document: its unit's folder name and the zone
    the user assumes for naive timestamps (None: not given, such timestamps are refused)."""

    unit: str = ""
    timezone: AssumedTimezone | None = None


StepFunction = Callable[[dict[str, Any], StepContext], tuple[dict[str, Any], list[Note]]]


@dataclass(frozen=True)
class Step:
    """A named, versioned, pure function from a document to a document (plus its notes).

    A new behaviour is a new version, never an edit of an old one, so a note that says
    ``null-substate@1`` means the same thing in every run.
    """

    name: str
    version: int
    kind: str
    summary: str
    apply: StepFunction = field(repr=False)

    @property
    def id(self) -> str:
        """The step's id: ``name@version``."""
        return f"{self.name}@{self.version}"
