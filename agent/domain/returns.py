"""A customer's return, as a state machine. Pure.

`expected` (the hub announced it, so its typed code works offline) -> `opening` (a door is being
opened for it) -> `dropped_off` (in a door, or handed in at a counter) -> `collected` (a courier
took it). A door that fails puts the return back to `expected`; an opening that a crash cut short
counts as dropped off (flagged), because the parcel may be in the door. A return that is not
announced may still be handed in: it starts where an expected one would.
"""

from __future__ import annotations

from enum import StrEnum

from agent.errors import AgentError, TransitionError
from agent.reasons import Reason


class ReturnState(StrEnum):
    """Where a customer's return is."""

    EXPECTED = "expected"
    OPENING = "opening"
    DROPPED_OFF = "dropped_off"
    COLLECTED = "collected"


class ReturnEvent(StrEnum):
    """What can happen to a return."""

    OPEN_DOOR = "open_door"  # a door is reserved and about to be pulsed
    DOOR_OPENED = "door_opened"
    DOOR_FAILED = "door_failed"
    OPEN_INTERRUPTED = "open_interrupted"  # found `opening` at start: it may be in its door
    HAND_IN_AT_COUNTER = "hand_in_at_counter"
    COLLECT = "collect"


_TRANSITIONS: dict[tuple[ReturnState, ReturnEvent], ReturnState] = {
    (ReturnState.EXPECTED, ReturnEvent.OPEN_DOOR): ReturnState.OPENING,
    (ReturnState.EXPECTED, ReturnEvent.HAND_IN_AT_COUNTER): ReturnState.DROPPED_OFF,
    (ReturnState.OPENING, ReturnEvent.DOOR_OPENED): ReturnState.DROPPED_OFF,
    (ReturnState.OPENING, ReturnEvent.DOOR_FAILED): ReturnState.EXPECTED,
    (ReturnState.OPENING, ReturnEvent.OPEN_INTERRUPTED): ReturnState.DROPPED_OFF,
    (ReturnState.DROPPED_OFF, ReturnEvent.COLLECT): ReturnState.COLLECTED,
}

#: a return in one of these states occupies its door
IN_A_DOOR = frozenset({ReturnState.OPENING, ReturnState.DROPPED_OFF})

#: what a return that an opening cut short is flagged with for staff
OPEN_INTERRUPTED = "door_open_interrupted"


def next_return_state(state: ReturnState, event: ReturnEvent) -> ReturnState:
    """The state after `event`, or `TransitionError` if a return cannot do that now."""
    try:
        return _TRANSITIONS[(state, event)]
    except KeyError:
        raise TransitionError(f"cannot {event.value} a return that is {state.value}") from None


def hand_in(order_ref: str, state: ReturnState, receipt: str | None) -> None:
    """Refuse (ALREADY_USED, with the receipt as reference) a return handed in before.

    (A return the hub never announced has no state yet: it may be handed in.)"""
    if state is not ReturnState.EXPECTED:
        raise AgentError(order_ref, reason=Reason.ALREADY_USED, ref=receipt or "")
