"""Couriers taking parcels out: expired parcels, retrievals the hub ordered, customer returns.

Couriers see what is to be taken (`pickups`) and take it (`collect`): the door opens first, the
order becomes RETRIEVED (or RETURNED when the hub already decided so) only once it has.
"""

from __future__ import annotations

import logging
import sqlite3
from dataclasses import dataclass

from agent.domain.clock import Clock
from agent.domain.orders import OrderEvent, OrderState, RetrievalReason
from agent.domain.returns import ReturnEvent, ReturnState, next_return_state
from agent.errors import AgentError, DoorFailed, NotFound
from agent.reasons import Reason
from agent.services.door_opener import DoorOpener
from agent.store import journal, returns
from agent.store.db import Database
from agent.store.doors import begin_opening, opening_under_way
from agent.store.openings import door_fault, door_opened
from agent.store.orders import get_order, orders_in_states, retrieval_reasons, save_order

_LOG = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class PickupItem:
    """Something a courier is to take out: an `expired` parcel, a `retrieval` the hub ordered
    (reason `return_to_sender` or `cancelled`), or a customer's `return` (reason `packaging` for
    reusable packaging)."""

    kind: str
    ref: str  # the order id, or the return's order reference
    door: int | None  # None at a counter
    reason: str | None = None
    receipt: str | None = None


def list_pickups(conn: sqlite3.Connection) -> list[PickupItem]:
    """Everything a courier is to take out now: expired parcels, retrievals and returns."""
    retrievals = retrieval_reasons(conn)
    items = []
    for order in orders_in_states(conn, (OrderState.LOADED, OrderState.EXPIRED)):
        reason = retrievals.get(order.order_id)
        if reason is not None:
            items.append(PickupItem("retrieval", order.order_id, order.door, reason))
        elif order.state is OrderState.EXPIRED:
            expired = OrderState.EXPIRED.value
            items.append(PickupItem(expired, order.order_id, order.door, expired))
    items.extend(
        PickupItem("return", r.order_ref, r.door, "packaging" if r.packaging else None, r.receipt)
        for r in returns.in_state(conn, ReturnState.DROPPED_OFF)
    )
    return items


def _find_item(conn: sqlite3.Connection, door: int | None, ref: str | None) -> PickupItem:
    for item in list_pickups(conn):
        if (door is not None and item.door == door) or (ref is not None and item.ref == ref):
            return item
    raise NotFound(f"nothing to collect at {door or ref}")


def _begin_take(
    conn: sqlite3.Connection, door: int | None, ref: str | None, with_door: bool, now: float
) -> tuple[PickupItem, int | None]:
    item = _find_item(conn, door, ref)
    if item.door is None or not with_door:
        return item, None
    if opening_under_way(conn, item.door, "retrieve"):
        # a second courier scan while the first opening is under way: one pulse is enough
        raise AgentError("a collection of this door is under way", reason=Reason.ALREADY_USED)
    order_id = None if item.kind == "return" else item.ref
    return item, begin_opening(conn, item.door, order_id=order_id, purpose="retrieve", now=now)


def record_taken(
    conn: sqlite3.Connection, item: PickupItem, opening_id: int | None, actor: str, now: float
) -> None:
    """In a transaction: the courier has it. Returns are collected; orders RETRIEVED, and
    RETURNED at once when the hub already decided to send them back."""
    if opening_id is not None and item.door is not None:
        door_opened(conn, opening_id, item.door, now)
    if item.kind == "return":
        was = ReturnState.DROPPED_OFF
        if returns.move_if(conn, item.ref, was, next_return_state(was, ReturnEvent.COLLECT), now):
            body = {"return": item.ref, "door": item.door, "receipt": item.receipt}
            journal.record(conn, "return.collected", body, now=now, actor=actor, door=item.door)
        return
    order = get_order(conn, item.ref)
    if order is None or order.state not in (OrderState.LOADED, OrderState.EXPIRED):
        return  # taken meanwhile by a concurrent request: nothing more to record
    taken = order.apply(OrderEvent.RETRIEVE, now)
    body = {"order": item.ref, "door": item.door, "reason": item.reason}
    journal.record(
        conn, "order.retrieved", body, now=now, actor=actor, order_id=item.ref, door=item.door
    )
    if item.reason == RetrievalReason.RETURN_TO_SENDER:
        taken = taken.apply(OrderEvent.RETURN_TO_SENDER, now)
        journal.record(conn, "order.returned", {"order": item.ref}, now=now, order_id=item.ref)
    save_order(conn, taken, now=now)


def _take_failed(
    conn: sqlite3.Connection, door: int, opening_id: int, fault: str, now: float
) -> None:
    door_fault(conn, door, fault, now, opening_id=opening_id)


class CollectionService:
    """What couriers take out, and taking it: through a door, or over the counter (no opener)."""

    def __init__(self, db: Database, opener: DoorOpener | None, clock: Clock) -> None:
        self._db = db
        self._opener = opener
        self._clock = clock

    async def pickups(self) -> list[PickupItem]:
        """What a courier is to take out now."""
        return await self._db.read(list_pickups)

    async def collect(self, *, door: int | None, ref: str | None, actor: str) -> PickupItem:
        """Open the door of one item (by door number or by order/return reference) and record
        that the courier took it. DOOR_FAILED (door marked faulted) if it would not open."""
        item, opening = await self._db.run(
            _begin_take, door, ref, self._opener is not None, self._clock.now()
        )
        if self._opener is not None and item.door is not None and opening is not None:
            fault = await self._opener.open(item.door)
            if fault is not None:
                await self._db.run(_take_failed, item.door, opening, fault, self._clock.now())
                raise DoorFailed(fault, ref=item.ref[-6:].upper())
        await self._db.run(record_taken, item, opening, actor, self._clock.now())
        _LOG.info("courier took a %s item (door %s)", item.kind, item.door)
        return item
