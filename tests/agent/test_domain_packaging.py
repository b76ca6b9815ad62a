"""The reserve anonymous (packaging) drop-offs leave free: pure rules, no I/O."""

from __future__ import annotations

import pytest

from agent.domain.doors import Door, DoorSize, assign_door
from agent.domain.packaging import DoorReserve, doors_open_to_anonymous


def _bank(free: dict[DoorSize, int], total: int = 8) -> list[Door]:
    doors, number = [], 0
    for size in DoorSize:
        for i in range(total):
            number += 1
            doors.append(Door(number, size, low=False, occupied=i >= free.get(size, total)))
    return doors


def test_the_larger_of_the_count_and_the_share_is_kept_free() -> None:
    reserve = DoorReserve(keep_free=2, keep_free_percent=20)
    assert reserve.kept_free(8) == 2  # 20 % of 8 is 1.6, rounded up: 2
    assert reserve.kept_free(20) == 4
    assert reserve.kept_free(21) == 5  # 4.2 rounded up
    assert reserve.kept_free(1) == 2  # a size with fewer doors than the reserve: none for packaging
    assert DoorReserve(keep_free=0, keep_free_percent=0).kept_free(8) == 0


def test_a_size_at_its_reserve_is_closed_to_anonymous_drop_offs() -> None:
    doors = _bank({DoorSize.S: 2, DoorSize.M: 3, DoorSize.L: 8})
    open_sizes = {d.size for d in doors_open_to_anonymous(doors, DoorReserve())}
    assert open_sizes == {DoorSize.M, DoorSize.L}


def test_a_packaging_drop_off_spills_to_a_larger_size_but_never_below_its_reserve() -> None:
    doors = _bank({DoorSize.S: 2, DoorSize.M: 3, DoorSize.L: 2})
    chosen = assign_door(
        doors_open_to_anonymous(doors, DoorReserve()), DoorSize.S, accessible=False
    )
    assert chosen is not None
    assert chosen.size is DoorSize.M
    # after it, M is at its reserve too: nothing is left for packaging
    taken = [Door(d.number, d.size, d.low, occupied=True) if d == chosen else d for d in doors]
    assert doors_open_to_anonymous(taken, DoorReserve()) == []


def test_faulted_or_disabled_doors_are_not_free() -> None:
    doors = _bank({DoorSize.S: 3, DoorSize.M: 0, DoorSize.L: 0})
    free_s = [d for d in doors if d.size is DoorSize.S and d.assignable]
    broken = [d.faulted("jammed", 0.0) if d == free_s[0] else d for d in doors]
    assert doors_open_to_anonymous(broken, DoorReserve()) == []


@pytest.mark.parametrize(("keep", "percent"), [(-1, 20), (2, -1), (2, 101)])
def test_a_reserve_out_of_range_is_refused(keep: int, percent: int) -> None:
    with pytest.raises(ValueError, match="keep_free"):
        DoorReserve(keep_free=keep, keep_free_percent=percent)
