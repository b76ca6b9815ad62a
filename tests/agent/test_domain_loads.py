import pytest

from agent.domain.loads import (
    LIVE,
    Load,
    LoadEvent,
    LoadState,
    SensorWord,
    next_load_state,
    require_pending,
)
from agent.errors import TransitionError
from agent.reasons import Reason

T0 = 1_800_000_000.0


def _pending() -> Load:
    return Load(1, "ORD-1", "P1", 4, "courier-7", LoadState.PENDING, created_at=T0)


@pytest.mark.parametrize(
    ("event", "state"),
    [
        (LoadEvent.CONFIRM, LoadState.CONFIRMED),
        (LoadEvent.TOO_SMALL, LoadState.TOO_SMALL),
        (LoadEvent.CANCEL, LoadState.CANCELLED),
        (LoadEvent.FAIL, LoadState.FAILED),
    ],
)
def test_a_pending_load_ends_one_way_or_another(event: LoadEvent, state: LoadState) -> None:
    assert next_load_state(LoadState.PENDING, event) is state


@pytest.mark.parametrize("state", [s for s in LoadState if s is not LoadState.PENDING])
@pytest.mark.parametrize("event", list(LoadEvent))
def test_an_ended_load_does_not_move_again(state: LoadState, event: LoadEvent) -> None:
    with pytest.raises(TransitionError) as caught:
        next_load_state(state, event)
    assert caught.value.reason is Reason.ILLEGAL_TRANSITION
    assert str(caught.value) == f"load is {state.value}"


def test_require_pending_names_the_state_it_found() -> None:
    require_pending(LoadState.PENDING)
    with pytest.raises(TransitionError, match="load is cancelled"):
        require_pending(LoadState.CANCELLED)


def test_confirming_records_the_sensor_and_the_time() -> None:
    confirmed = _pending().apply(LoadEvent.CONFIRM, T0 + 30, sensor=SensorWord.UNKNOWN)
    assert confirmed.state is LoadState.CONFIRMED
    assert confirmed.sensor == "unknown"
    assert confirmed.finished_at == T0 + 30
    assert confirmed.door == 4


def test_other_endings_leave_the_sensor_unread() -> None:
    failed = _pending().apply(LoadEvent.FAIL, T0 + 1, sensor=SensorWord.CLOSED)
    assert failed.state is LoadState.FAILED
    assert failed.sensor is None
    assert failed.finished_at == T0 + 1


def test_only_pending_and_confirmed_loads_hold_a_parcel() -> None:
    assert frozenset({LoadState.PENDING, LoadState.CONFIRMED}) == LIVE
