"""Anonymous drop-offs (reusable packaging) never take the last free doors of a size.

A packaging drop-off needs no credential, so whoever reaches the kiosk could keep asking for
doors. Parcels and returns need doors too: of every door size, a reserve (`keep_free` doors, or
`keep_free_percent` of the size's doors if that is more) stays free for them. Pure: the caller
passes the doors as they are now.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from agent.domain.doors import Door, DoorSize


@dataclass(frozen=True, slots=True)
class DoorReserve:
    """How many doors of each size an anonymous drop-off must leave free."""

    keep_free: int = 2
    keep_free_percent: int = 20

    def __post_init__(self) -> None:
        if self.keep_free < 0 or not 0 <= self.keep_free_percent <= 100:
            raise ValueError("keep_free must be >= 0 and keep_free_percent in 0..100")

    def kept_free(self, doors_of_size: int) -> int:
        """Doors of a size with `doors_of_size` doors that stay free for parcels and returns."""
        by_percent = -(-doors_of_size * self.keep_free_percent // 100)  # rounded up
        return max(self.keep_free, by_percent)


def doors_open_to_anonymous(doors: Iterable[Door], reserve: DoorReserve) -> list[Door]:
    """The doors an anonymous drop-off may be given: those of every size that has more free
    (assignable) doors than its reserve. Taking one of them still leaves the reserve free."""
    listed = list(doors)
    open_sizes: set[DoorSize] = set()
    for size in DoorSize:
        of_size = [d for d in listed if d.size is size]
        free = sum(1 for d in of_size if d.assignable)
        if free > reserve.kept_free(len(of_size)):
            open_sizes.add(size)
    return [d for d in listed if d.size in open_sizes]
