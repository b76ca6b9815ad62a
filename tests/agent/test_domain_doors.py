import pytest

from agent.domain.doors import Door, DoorSize, OpeningResult, assign_door, next_size_up
from agent.errors import AgentError
from agent.reasons import Reason


def bank() -> list[Door]:
    return [
        Door(1, DoorSize.S, low=False),
        Door(2, DoorSize.S, low=True),
        Door(3, DoorSize.M, low=False),
        Door(4, DoorSize.M, low=True),
        Door(5, DoorSize.L, low=False),
    ]


def test_smallest_fitting_door_wins_and_low_doors_are_kept_free() -> None:
    door = assign_door(bank(), DoorSize.S, accessible=False)
    assert door is not None
    assert door.number == 1


def test_accessible_orders_get_a_low_door_even_if_larger() -> None:
    doors = [d for d in bank() if d.number != 2]  # no low S door left
    door = assign_door(doors, DoorSize.S, accessible=True)
    assert door is not None
    assert (door.number, door.low) == (4, True)


def test_accessible_order_falls_back_to_a_high_door_when_no_low_door_is_free() -> None:
    doors = [d for d in bank() if not d.low]
    door = assign_door(doors, DoorSize.M, accessible=True)
    assert door is not None
    assert door.number == 3


def test_occupied_disabled_and_faulted_doors_are_never_assigned() -> None:
    doors = [
        Door(1, DoorSize.L, low=False, occupied=True),
        Door(2, DoorSize.L, low=False, enabled=False),
        Door(3, DoorSize.L, low=False, fault="jammed"),
    ]
    assert assign_door(doors, DoorSize.S, accessible=False) is None


def test_non_accessible_orders_use_a_low_door_only_when_nothing_else_fits() -> None:
    doors = [Door(1, DoorSize.S, low=True), Door(2, DoorSize.M, low=False)]
    door = assign_door(doors, DoorSize.S, accessible=False)
    assert door is not None
    assert door.number == 1  # size wins over keeping low doors free: S fits only door 1 exactly


def test_next_size_up() -> None:
    assert next_size_up(DoorSize.S) is DoorSize.M
    assert next_size_up(DoorSize.M) is DoorSize.L
    assert next_size_up(DoorSize.L) is None


def test_a_fault_takes_a_door_out_of_assignment_from_when_it_happened() -> None:
    door = Door(3, DoorSize.M, low=False)
    faulted = door.faulted("jammed", 1_800_000_000.0)
    assert faulted.fault == "jammed"
    assert faulted.fault_since == 1_800_000_000.0
    assert not faulted.assignable
    assert assign_door([faulted], DoorSize.S, accessible=False) is None


def test_a_second_fault_keeps_the_first_one_and_its_time() -> None:
    first = Door(3, DoorSize.M, low=False).faulted("relay_failed", 100.0)
    assert first.faulted("jammed", 200.0) == first


def test_clearing_a_fault_puts_the_door_back_in_service() -> None:
    cleared = Door(3, DoorSize.M, low=False).faulted("jammed", 100.0).fault_cleared()
    assert cleared.fault is None
    assert cleared.fault_since is None
    assert cleared.assignable


def test_clearing_a_door_without_a_fault_is_refused() -> None:
    with pytest.raises(AgentError) as caught:
        Door(3, DoorSize.M, low=False).fault_cleared()
    assert caught.value.reason is Reason.DOOR_NOT_FAULTED
    assert str(caught.value) == "3"


def test_disabling_keeps_the_fault_and_enabling_does_not_clear_it() -> None:
    faulted = Door(3, DoorSize.M, low=False).faulted("jammed", 100.0)
    disabled = faulted.with_enabled(False)
    assert not disabled.enabled
    assert disabled.fault == "jammed"
    enabled = disabled.with_enabled(True)
    assert enabled.enabled
    assert not enabled.assignable


@pytest.mark.parametrize(
    ("result", "not_opened"),
    [
        (OpeningResult.OPENED, False),
        (OpeningResult.FAILED, True),
        (OpeningResult.INTERRUPTED, True),
    ],
)
def test_only_an_opened_latch_counts_as_opened(result: OpeningResult, not_opened: bool) -> None:
    assert result.not_opened is not_opened
