"""A courier's load of one parcel into a door, as a state machine. Pure.

A load is `pending` from the latch pulse until the door is confirmed closed (by the sensor, or
the courier when the sensor is dead); it can instead fail (the door did not open), be cancelled
by the courier, or be given up because the door was too small. Only a pending load moves; a
confirmed load asked to confirm again is answered from what it recorded.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from enum import StrEnum

from agent.errors import TransitionError


class LoadState(StrEnum):
    """Where a load is: pending until it ends one of four ways."""

    PENDING = "pending"  # door reserved and pulsed; the parcel is not counted yet
    CONFIRMED = "confirmed"  # the door closed on the parcel: it is in
    TOO_SMALL = "too_small"  # the courier said the parcel did not fit; the door is free
    CANCELLED = "cancelled"  # the courier gave up on this parcel; the door is free
    FAILED = "failed"  # the door did not open; it was faulted


class LoadEvent(StrEnum):
    """What can happen to a pending load."""

    CONFIRM = "confirm"
    TOO_SMALL = "too_small"
    CANCEL = "cancel"
    FAIL = "fail"


_TRANSITIONS: dict[tuple[LoadState, LoadEvent], LoadState] = {
    (LoadState.PENDING, LoadEvent.CONFIRM): LoadState.CONFIRMED,
    (LoadState.PENDING, LoadEvent.TOO_SMALL): LoadState.TOO_SMALL,
    (LoadState.PENDING, LoadEvent.CANCEL): LoadState.CANCELLED,
    (LoadState.PENDING, LoadEvent.FAIL): LoadState.FAILED,
}

#: a parcel is in at most one live load (the store holds a unique index on these)
LIVE = frozenset({LoadState.PENDING, LoadState.CONFIRMED})


class SensorWord(StrEnum):
    """What confirmed a load: the door sensor read closed, or the courier's word alone."""

    CLOSED = "closed"
    UNKNOWN = "unknown"


def next_load_state(state: LoadState, event: LoadEvent) -> LoadState:
    """The state after `event`, or `TransitionError("load is <state>")`."""
    try:
        return _TRANSITIONS[(state, event)]
    except KeyError:
        raise TransitionError(f"load is {state.value}") from None


def require_pending(state: LoadState) -> None:
    """`TransitionError("load is <state>")` unless the load can still move."""
    if state is not LoadState.PENDING:
        raise TransitionError(f"load is {state.value}")


@dataclass(frozen=True, slots=True)
class Load:
    """One parcel's load into one door (a row of `loads`)."""

    load_id: int
    order_id: str
    parcel_id: str
    door: int
    actor: str
    state: LoadState
    created_at: float
    sensor: str | None = None
    finished_at: float | None = None

    def apply(self, event: LoadEvent, now: float, *, sensor: str | None = None) -> Load:
        """This load after `event` at `now` (a confirmation records what the sensor said)."""
        state = next_load_state(self.state, event)
        return replace(
            self,
            state=state,
            finished_at=now,
            sensor=sensor if event is LoadEvent.CONFIRM else self.sensor,
        )
