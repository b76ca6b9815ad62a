"""A door's service life (enabled, faulted, cleared), its openings, and door assignment by size
and accessibility. Pure: time is passed in."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace
from enum import StrEnum

from agent.errors import AgentError
from agent.reasons import Reason


class DoorSize(StrEnum):
    """A door's size, S < M < L."""

    S = "S"
    M = "M"
    L = "L"

    @property
    def rank(self) -> int:
        """The size's order, for comparing sizes (S is smallest)."""
        return _RANK[self]


_RANK = {DoorSize.S: 0, DoorSize.M: 1, DoorSize.L: 2}


@dataclass(frozen=True, slots=True)
class Door:
    """One door of the bank: its size, whether it is low, and whether it can take a parcel."""

    number: int
    size: DoorSize
    low: bool  # reachable from a wheelchair
    enabled: bool = True
    fault: str | None = None
    occupied: bool = False
    fault_since: float | None = None

    @property
    def assignable(self) -> bool:
        """Whether a new parcel can go in: enabled, not faulted and empty."""
        return self.enabled and self.fault is None and not self.occupied

    def faulted(self, fault: str, now: float) -> Door:
        """Out of service with `fault` from `now`; a door already faulted keeps its first fault
        (and since when), so staff see what went wrong first."""
        if self.fault is not None:
            return self
        return replace(self, fault=fault, fault_since=now)

    def fault_cleared(self) -> Door:
        """Back in service; DOOR_NOT_FAULTED if there was nothing to clear."""
        if self.fault is None:
            raise AgentError(str(self.number), reason=Reason.DOOR_NOT_FAULTED)
        return replace(self, fault=None, fault_since=None)

    def with_enabled(self, enabled: bool) -> Door:
        """Taken out of (or put back into) assignment by staff; a fault is kept either way."""
        return replace(self, enabled=enabled)


class OpeningResult(StrEnum):
    """How a door opening (one latch command) ended; it has none while under way."""

    OPENED = "opened"  # the latch took its pulse (the sensor did not say it stayed shut)
    FAILED = "failed"  # the latch or the door did not open
    INTERRUPTED = "interrupted"  # the agent stopped before it knew (found at start)

    @property
    def not_opened(self) -> bool:
        """Whether the door did not open (failed or interrupted)."""
        return self is not OpeningResult.OPENED


def assign_door(doors: Iterable[Door], size: DoorSize, *, accessible: bool) -> Door | None:
    """The best free door for a parcel of `size`, or None if the locker has none.

    The smallest door that fits wins. An order flagged accessible gets a low door whenever one
    fits; other orders leave low doors free for those who need them unless nothing else fits.
    Ties go to the lowest door number, so assignment is deterministic.
    """
    fitting = [d for d in doors if d.assignable and d.size.rank >= size.rank]
    if not fitting:
        return None

    def preference(door: Door) -> tuple[int, int, int]:
        if accessible:
            return (0 if door.low else 1, door.size.rank, door.number)
        return (door.size.rank, 1 if door.low else 0, door.number)

    return min(fitting, key=preference)


def next_size_up(size: DoorSize) -> DoorSize | None:
    """For 'door too small': the next larger size, or None from the largest."""
    order = [DoorSize.S, DoorSize.M, DoorSize.L]
    index = order.index(size)
    return order[index + 1] if index + 1 < len(order) else None
