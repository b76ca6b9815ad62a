from agent.domain.doors import Door, DoorSize, assign_door, next_size_up


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
