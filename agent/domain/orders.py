"""The order lifecycle as an explicit state machine, and the hold-period clock.

Pure: no I/O, no clock reads. Every function takes `now` (unix seconds) from its caller.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from enum import StrEnum

from agent.errors import TransitionError


class OrderState(StrEnum):
    """Where an order is in its lifecycle."""

    ANNOUNCED = "announced"  # the hub told us it is coming; no parcel in a door yet
    LOADED = "loaded"  # in a door, collectable, hold clock running
    COLLECTED = "collected"  # the customer took it
    EXPIRED = "expired"  # hold period over: flagged for retrieval, still in its door
    RETRIEVED = "retrieved"  # a courier took it out (expired, or on the hub's decision)
    RETURNED = "returned"  # return to sender confirmed by the hub
    CANCELLED = "cancelled"  # the hub withdrew an order that was never loaded


class OrderEvent(StrEnum):
    """What can happen to an order; `next_state` says what each one leads to."""

    LOAD = "load"
    COLLECT = "collect"
    EXPIRE = "expire"
    EXTEND = "extend"
    RETRIEVE = "retrieve"
    RETURN_TO_SENDER = "return_to_sender"
    CANCEL = "cancel"
    UNDO_COLLECT = "undo_collect"  # the door did not open: the order stays collectable


_TRANSITIONS: dict[tuple[OrderState, OrderEvent], OrderState] = {
    (OrderState.ANNOUNCED, OrderEvent.LOAD): OrderState.LOADED,
    (OrderState.ANNOUNCED, OrderEvent.CANCEL): OrderState.CANCELLED,
    (OrderState.LOADED, OrderEvent.COLLECT): OrderState.COLLECTED,
    (OrderState.LOADED, OrderEvent.EXPIRE): OrderState.EXPIRED,
    (OrderState.LOADED, OrderEvent.EXTEND): OrderState.LOADED,
    (OrderState.LOADED, OrderEvent.RETRIEVE): OrderState.RETRIEVED,
    (OrderState.COLLECTED, OrderEvent.UNDO_COLLECT): OrderState.LOADED,
    (OrderState.EXPIRED, OrderEvent.EXTEND): OrderState.LOADED,
    (OrderState.EXPIRED, OrderEvent.RETRIEVE): OrderState.RETRIEVED,
    (OrderState.RETRIEVED, OrderEvent.RETURN_TO_SENDER): OrderState.RETURNED,
}


class RetrievalReason(StrEnum):
    """Why the hub wants a parcel taken out of its door by a courier."""

    RETURN_TO_SENDER = "return_to_sender"
    CANCELLED = "cancelled"  # the order was cancelled or redirected to another locker


COLLECTABLE = frozenset({OrderState.LOADED})
IN_A_DOOR = frozenset({OrderState.LOADED, OrderState.EXPIRED})


def next_state(state: OrderState, event: OrderEvent) -> OrderState:
    """The state after `event`, or `TransitionError` if the lifecycle does not allow it."""
    try:
        return _TRANSITIONS[(state, event)]
    except KeyError:
        raise TransitionError(f"cannot {event.value} an order that is {state.value}") from None


def allowed_events(state: OrderState) -> frozenset[OrderEvent]:
    """The events the lifecycle allows in `state`."""
    return frozenset(event for (src, event) in _TRANSITIONS if src == state)


@dataclass(frozen=True, slots=True)
class HoldClock:
    """How long a parcel waits for its customer. The clock pauses while the locker or the
    order's door is faulted, so a broken locker never uses up a customer's pickup time."""

    hold_s: float
    started_at: float | None = None
    paused_s: float = 0.0
    paused_since: float | None = None

    def start(self, now: float) -> HoldClock:
        """The clock started at `now` (the parcel is in its door), with no paused time."""
        return replace(self, started_at=now, paused_s=0.0, paused_since=None)

    def pause(self, now: float) -> HoldClock:
        """The clock stopped at `now`; a clock already paused or not started is unchanged."""
        if self.paused_since is not None or self.started_at is None:
            return self
        return replace(self, paused_since=now)

    def resume(self, now: float) -> HoldClock:
        """The clock running again, the time since the pause added to the paused time."""
        if self.paused_since is None:
            return self
        return replace(
            self, paused_s=self.paused_s + max(0.0, now - self.paused_since), paused_since=None
        )

    def extend(self, extra_s: float) -> HoldClock:
        """The hold made longer by `extra_s` seconds (it must be positive)."""
        if extra_s <= 0:
            raise TransitionError("an extension must be positive")
        return replace(self, hold_s=self.hold_s + extra_s)

    def elapsed(self, now: float) -> float:
        """Hold time used so far, not counting paused time."""
        if self.started_at is None:
            return 0.0
        paused = self.paused_s
        if self.paused_since is not None:
            paused += max(0.0, now - self.paused_since)
        return max(0.0, now - self.started_at - paused)

    def remaining(self, now: float) -> float:
        """Hold time left at `now` (0 once it is used up)."""
        return max(0.0, self.hold_s - self.elapsed(now))

    def is_expired(self, now: float) -> bool:
        """Whether the hold has run out at `now` (never before the clock started)."""
        return self.started_at is not None and self.elapsed(now) >= self.hold_s

    @property
    def paused(self) -> bool:
        """Whether the clock is paused."""
        return self.paused_since is not None


@dataclass(frozen=True, slots=True)
class OrderPolicy:
    """What the hub decided for this order (flags travel in its tokens too)."""

    live_required: bool = False
    id_check_required: bool = False
    high_value: bool = False
    accessible: bool = False
    # an age the customer must prove (an ID check at the counter, or a verified wallet)
    min_age: int | None = None
    # the named recipient as SHA-256(salt || normalised name) (agent/identity/names.py); the
    # locker never receives the name in clear
    recipient_salt: bytes | None = None
    recipient_digest: bytes | None = None


@dataclass(frozen=True, slots=True)
class Order:
    """One order at this locker: its state, its door, its hold and the hub's policy for it."""

    order_id: str
    state: OrderState
    size: str
    door: int | None
    hold: HoldClock
    policy: OrderPolicy = OrderPolicy()
    parcels: tuple[str, ...] = ()
    kind: str = "pickup"
    needs_attention: str | None = None

    def apply(self, event: OrderEvent, now: float) -> Order:
        """This order after `event` at `now` (hold clock started on load)."""
        state = next_state(self.state, event)
        hold = self.hold.start(now) if event is OrderEvent.LOAD else self.hold
        return replace(self, state=state, hold=hold)


def hold_on_load(order: Order, now: float, *, door_faulted: bool, locker_paused: bool) -> Order:
    """`order` just loaded at `now`: its clock starts paused if its door or the locker is down,
    so a parcel put behind a broken door does not use up its customer's time."""
    if locker_paused or door_faulted:
        return replace(order, hold=order.hold.pause(now))
    return order
