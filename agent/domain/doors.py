"""Door assignment by size and accessibility. Pure."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum


class DoorSize(StrEnum):
    S = "S"
    M = "M"
    L = "L"

    @property
    def rank(self) -> int:
        return _RANK[self]


_RANK = {DoorSize.S: 0, DoorSize.M: 1, DoorSize.L: 2}


@dataclass(frozen=True, slots=True)
class Door:
    number: int
    size: DoorSize
    low: bool  # reachable from a wheelchair
    enabled: bool = True
    fault: str | None = None
    occupied: bool = False

    @property
    def assignable(self) -> bool:
        return self.enabled and self.fault is None and not self.occupied


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
