"""UTC time as the product writes it: one place for the stamps in reports, ledgers and files."""

from __future__ import annotations

from datetime import UTC, date, datetime


def utc_now() -> datetime:
    """Return the current time, timezone-aware, in UTC."""
    return datetime.now(UTC)


def utc_stamp(moment: datetime | None = None, *, timespec: str = "microseconds") -> str:
    """Return an ISO 8601 stamp in UTC with ``Z`` (microseconds by default), as reports write it.

    Args:
        moment: an aware datetime; default now.
        timespec: as ``datetime.isoformat`` (``"seconds"`` for a moment shown to people).

    Returns:
        For example ``"2026-11-29T06:21:19.123456Z"``.
    """
    moment = (moment or utc_now()).astimezone(UTC)
    return moment.isoformat(timespec=timespec).replace("+00:00", "Z")


def file_stamp(moment: datetime | None = None) -> str:
    """Return a stamp safe in a file name, to the second, such as ``20261129T062119Z``.

    Args:
        moment: an aware datetime; default now.

    Returns:
        The stamp.
    """
    return (moment or utc_now()).astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")


def today_utc() -> date:
    """Return today's date in UTC (ignore rules expire at the end of their day, UTC)."""
    return utc_now().date()
