"""How far a long job is: phases with totals, then ticks. The library reports, a face shows.

A progress reporter is a callable taking a count (one tick per unit of work). One that
also has a ``phase`` method (``PhasedProgress``) is told when each long phase starts,
with its total, so it can show a bar with an ETA for reading the shadow, reading the
source and comparing. A plain callable is only ticked for source units (documents read
or imported), as before phases existed.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol, runtime_checkable

Progress = Callable[[int], None]
UNIT = "unit"  # one source unit: a primary document and its companions


@runtime_checkable
class PhasedProgress(Protocol):
    """A progress reporter that is told each phase's name and total."""

    def __call__(self, n: int, /) -> None:
        """Advance the current phase by ``n``."""

    def phase(self, name: str, *, total: int | None, unit: str) -> None:
        """Start phase ``name``.

        Args:
            name: the phase (``"scan"``, ``"validate"``, ...).
            total: how many steps it has (``None``: unknown).
            unit: what a step is (``"documents"``, ``"tables"``).
        """


def begin_phase(
    progress: Progress | None, name: str, *, total: int | None, unit: str
) -> Progress | None:
    """Announce a phase; return the callable to tick during it (None: do not tick).

    Args:
        progress: the caller's reporter, plain or phased, or None.
        name: what the phase does, e.g. ``"reading shadow"``.
        total: how many steps the phase has, when known.
        unit: what one step is (``"unit"``, ``"table"``).

    Returns:
        ``progress`` when it should be ticked in this phase: always for a phased
        reporter, only for source units for a plain callable.
    """
    if isinstance(progress, PhasedProgress):
        progress.phase(name, total=total, unit=unit)
        return progress
    return progress if unit == UNIT else None
