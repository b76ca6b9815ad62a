import pytest

from agent.domain.orders import (
    HoldClock,
    Order,
    OrderEvent,
    OrderState,
    RetrievalReason,
    allowed_events,
    hold_on_load,
    next_state,
)
from agent.errors import TransitionError
from agent.reasons import Reason

T0 = 1_800_000_000.0


def test_the_happy_path_of_a_pickup() -> None:
    state = OrderState.ANNOUNCED
    for event, expected in [
        (OrderEvent.LOAD, OrderState.LOADED),
        (OrderEvent.COLLECT, OrderState.COLLECTED),
    ]:
        state = next_state(state, event)
        assert state is expected


def test_expired_parcels_are_retrieved_then_returned_only_on_the_hubs_decision() -> None:
    state = next_state(OrderState.LOADED, OrderEvent.EXPIRE)
    assert OrderEvent.RETURN_TO_SENDER not in allowed_events(state)
    state = next_state(state, OrderEvent.RETRIEVE)
    assert next_state(state, OrderEvent.RETURN_TO_SENDER) is OrderState.RETURNED


@pytest.mark.parametrize(
    ("state", "event"),
    [
        (OrderState.ANNOUNCED, OrderEvent.COLLECT),  # nothing in a door yet
        (OrderState.COLLECTED, OrderEvent.COLLECT),  # twice
        (OrderState.EXPIRED, OrderEvent.COLLECT),
        (OrderState.RETURNED, OrderEvent.LOAD),
        (OrderState.CANCELLED, OrderEvent.LOAD),
        (OrderState.LOADED, OrderEvent.RETURN_TO_SENDER),  # must be retrieved first
    ],
)
def test_illegal_transitions_are_refused(state: OrderState, event: OrderEvent) -> None:
    with pytest.raises(TransitionError) as info:
        next_state(state, event)
    assert info.value.reason is Reason.ILLEGAL_TRANSITION


def test_an_extension_brings_an_expired_parcel_back_to_collectable() -> None:
    assert next_state(OrderState.EXPIRED, OrderEvent.EXTEND) is OrderState.LOADED


def test_loading_starts_the_hold_clock() -> None:
    order = Order("o1", OrderState.ANNOUNCED, "S", 3, HoldClock(hold_s=3600))
    loaded = order.apply(OrderEvent.LOAD, T0)
    assert loaded.hold.started_at == T0
    assert loaded.hold.remaining(T0 + 600) == 3000


def test_hold_clock_pauses_while_faulted() -> None:
    clock = HoldClock(hold_s=3600).start(T0)
    clock = clock.pause(T0 + 1000)
    # six days of fault: no hold time is used
    assert clock.remaining(T0 + 6 * 86400) == 2600
    assert not clock.is_expired(T0 + 6 * 86400)
    clock = clock.resume(T0 + 6 * 86400)
    assert clock.remaining(T0 + 6 * 86400 + 2599) == pytest.approx(1)
    assert clock.is_expired(T0 + 6 * 86400 + 2600)


def test_pausing_twice_or_resuming_unpaused_changes_nothing() -> None:
    clock = HoldClock(hold_s=100).start(T0).pause(T0 + 10)
    assert clock.pause(T0 + 50) == clock
    running = HoldClock(hold_s=100).start(T0)
    assert running.resume(T0 + 5) == running


def test_extension_must_be_positive() -> None:
    clock = HoldClock(hold_s=100).start(T0)
    assert clock.extend(50).remaining(T0 + 120) == 30
    with pytest.raises(TransitionError):
        clock.extend(0)


def test_a_clock_jumping_backwards_never_gives_negative_elapsed_time() -> None:
    clock = HoldClock(hold_s=100).start(T0)
    assert clock.elapsed(T0 - 5000) == 0
    assert clock.remaining(T0 - 5000) == 100


def test_a_retrieval_is_asked_for_one_of_two_reasons() -> None:
    assert {r.value for r in RetrievalReason} == {"return_to_sender", "cancelled"}


def _loaded_at(now: float) -> Order:
    announced = Order("ORD-9", OrderState.ANNOUNCED, "M", 2, HoldClock(hold_s=3600.0))
    return announced.apply(OrderEvent.LOAD, now)


def test_a_parcel_loaded_into_a_healthy_locker_starts_its_clock() -> None:
    order = hold_on_load(_loaded_at(T0), T0, door_faulted=False, locker_paused=False)
    assert not order.hold.paused
    assert order.hold.remaining(T0 + 600) == 3000.0


@pytest.mark.parametrize(
    ("door_faulted", "locker_paused"), [(True, False), (False, True), (True, True)]
)
def test_a_parcel_loaded_while_its_door_or_the_locker_is_down_waits_paused(
    door_faulted: bool, locker_paused: bool
) -> None:
    order = hold_on_load(_loaded_at(T0), T0, door_faulted=door_faulted, locker_paused=locker_paused)
    assert order.hold.paused
    assert order.hold.remaining(T0 + 600) == 3600.0
