import pytest

from agent.domain.returns import (
    IN_A_DOOR,
    ReturnEvent,
    ReturnState,
    hand_in,
    next_return_state,
)
from agent.errors import AgentError, TransitionError
from agent.reasons import Reason


def test_a_return_goes_through_a_door_to_a_courier() -> None:
    state = ReturnState.EXPECTED
    for event, expected in [
        (ReturnEvent.OPEN_DOOR, ReturnState.OPENING),
        (ReturnEvent.DOOR_OPENED, ReturnState.DROPPED_OFF),
        (ReturnEvent.COLLECT, ReturnState.COLLECTED),
    ]:
        state = next_return_state(state, event)
        assert state is expected


def test_a_door_that_failed_puts_the_return_back_to_expected() -> None:
    assert next_return_state(ReturnState.OPENING, ReturnEvent.DOOR_FAILED) is ReturnState.EXPECTED


def test_an_opening_cut_short_counts_as_dropped_off() -> None:
    state = next_return_state(ReturnState.OPENING, ReturnEvent.OPEN_INTERRUPTED)
    assert state is ReturnState.DROPPED_OFF
    assert state in IN_A_DOOR


def test_a_counter_takes_an_expected_return_without_a_door() -> None:
    state = next_return_state(ReturnState.EXPECTED, ReturnEvent.HAND_IN_AT_COUNTER)
    assert state is ReturnState.DROPPED_OFF


@pytest.mark.parametrize(
    ("state", "event"),
    [
        (ReturnState.EXPECTED, ReturnEvent.COLLECT),
        (ReturnState.EXPECTED, ReturnEvent.DOOR_OPENED),
        (ReturnState.DROPPED_OFF, ReturnEvent.OPEN_DOOR),
        (ReturnState.DROPPED_OFF, ReturnEvent.HAND_IN_AT_COUNTER),
        (ReturnState.COLLECTED, ReturnEvent.COLLECT),
        (ReturnState.COLLECTED, ReturnEvent.OPEN_DOOR),
        (ReturnState.OPENING, ReturnEvent.COLLECT),
    ],
)
def test_illegal_moves_are_refused(state: ReturnState, event: ReturnEvent) -> None:
    with pytest.raises(TransitionError) as caught:
        next_return_state(state, event)
    assert caught.value.reason is Reason.ILLEGAL_TRANSITION


def test_only_an_expected_return_may_be_handed_in() -> None:
    hand_in("RET-1", ReturnState.EXPECTED, None)


@pytest.mark.parametrize(
    "state", [ReturnState.OPENING, ReturnState.DROPPED_OFF, ReturnState.COLLECTED]
)
def test_a_return_handed_in_before_is_refused_with_its_receipt(state: ReturnState) -> None:
    with pytest.raises(AgentError) as caught:
        hand_in("RET-1", state, "R-ABC123")
    assert caught.value.reason is Reason.ALREADY_USED
    assert caught.value.ref == "R-ABC123"


def test_a_return_without_a_receipt_is_refused_with_an_empty_reference() -> None:
    with pytest.raises(AgentError) as caught:
        hand_in("RET-1", ReturnState.DROPPED_OFF, None)
    assert caught.value.ref == ""


def test_a_return_occupies_a_door_while_opening_and_until_collected() -> None:
    assert frozenset({ReturnState.OPENING, ReturnState.DROPPED_OFF}) == IN_A_DOOR
