"""Hold periods: the expiry sweep, pausing the clock while the locker or a door is faulted, and
the hub's decisions about an order (announce/update, extend, cancel, return to sender).

The device clock only ever flags a parcel EXPIRED (for a courier to take out); sending it back is
the hub's decision. A parcel's hold clock stops while its door cannot open or the whole locker is
faulted, so a broken locker never uses up a customer's pickup time.
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
from dataclasses import replace

from agent.domain.clock import Clock
from agent.domain.loads import LoadEvent
from agent.domain.orders import Order, OrderEvent, OrderState, RetrievalReason
from agent.errors import AgentError, TransitionError, UnknownOrder
from agent.services.orders import Announcement, announce_order
from agent.store import journal, loads
from agent.store.db import Database
from agent.store.holds import (
    HOLDING,
    note_alive,
    pause_all_holds,
    pause_door_holds,
    resume_all_holds,
    resume_door_holds,
)
from agent.store.orders import (
    get_order,
    orders_in_states,
    put_retrieval,
    save_order,
    save_order_terms,
)

_LOG = logging.getLogger(__name__)


def expire_due(conn: sqlite3.Connection, now: float) -> list[str]:
    """In a transaction: every loaded pickup whose hold ran out becomes EXPIRED (+ event);
    the sweep is also the heartbeat that `credit_downtime` measures the agent's off time from."""
    note_alive(conn, now)
    expired = []
    for order in orders_in_states(conn, HOLDING):
        if order.kind != "pickup" or not order.hold.is_expired(now):
            continue
        save_order(conn, order.apply(OrderEvent.EXPIRE, now), now=now)
        journal.record(
            conn,
            "order.expired",
            {"order": order.order_id, "door": order.door},
            now=now,
            order_id=order.order_id,
            door=order.door,
        )
        expired.append(order.order_id)
    return expired


def _require_order(conn: sqlite3.Connection, order_id: str) -> Order:
    order = get_order(conn, order_id)
    if order is None:
        raise UnknownOrder(order_id)
    return order


def extend_hold(conn: sqlite3.Connection, order_id: str, extra_s: float, now: float) -> Order:
    """The hub extends a hold by `extra_s`; an expired parcel becomes collectable again."""
    order = _require_order(conn, order_id)
    extended = order.apply(OrderEvent.EXTEND, now)
    extended = replace(extended, hold=extended.hold.extend(extra_s))
    save_order(conn, extended, now=now)
    journal.record(
        conn,
        "order.extended",
        {"order": order_id, "extra_s": extra_s, "hold_s": extended.hold.hold_s},
        now=now,
        actor="hub",
        order_id=order_id,
        door=order.door,
    )
    return extended


def request_retrieval(
    conn: sqlite3.Connection, order: Order, reason: RetrievalReason, now: float
) -> None:
    """Put `order` on the couriers' pickup list (it stays in its door until collected)."""
    put_retrieval(conn, order.order_id, reason, now)
    journal.record(
        conn,
        "order.retrieval_requested",
        {"order": order.order_id, "reason": reason.value, "door": order.door},
        now=now,
        actor="hub",
        order_id=order.order_id,
        door=order.door,
    )


def return_order_to_sender(conn: sqlite3.Connection, order_id: str, now: float) -> Order:
    """RETRIEVED becomes RETURNED; a parcel still in a door is marked for retrieval first."""
    order = _require_order(conn, order_id)
    if order.state in (OrderState.LOADED, OrderState.EXPIRED):
        request_retrieval(conn, order, RetrievalReason.RETURN_TO_SENDER, now)
        return order
    returned = order.apply(OrderEvent.RETURN_TO_SENDER, now)
    save_order(conn, returned, now=now)
    journal.record(
        conn, "order.returned", {"order": order_id}, now=now, actor="hub", order_id=order_id
    )
    return returned


def cancel_order(conn: sqlite3.Connection, order_id: str, now: float) -> Order:
    """ANNOUNCED becomes CANCELLED (pending loads dropped); a parcel in a door is retrieved."""
    order = _require_order(conn, order_id)
    if order.state in (OrderState.LOADED, OrderState.EXPIRED):
        request_retrieval(conn, order, RetrievalReason.CANCELLED, now)
        return order
    cancelled = _drop_unloaded(conn, order, now)
    journal.record(
        conn, "order.cancelled", {"order": order_id}, now=now, actor="hub", order_id=order_id
    )
    return cancelled


def _drop_unloaded(conn: sqlite3.Connection, order: Order, now: float) -> Order:
    cancelled = order.apply(OrderEvent.CANCEL, now)
    save_order(conn, cancelled, now=now)
    for load in loads.pending_of_order(conn, order.order_id):
        loads.save(conn, load.apply(LoadEvent.CANCEL, now))
    return cancelled


def redirect_order(
    conn: sqlite3.Connection, order_id: str, destination: str | None, now: float
) -> Order:
    """The hub moves the order to another locker. This locker gives it up exactly as on a cancel
    (a parcel in a door waits for a courier, retrieval reason `cancelled`; an unloaded order
    becomes CANCELLED), recorded as `order.redirected` so the hub can tell the two apart."""
    order = _require_order(conn, order_id)
    body = {"order": order_id, "door": order.door, "destination": destination}
    if order.state in (OrderState.LOADED, OrderState.EXPIRED):
        request_retrieval(conn, order, RetrievalReason.CANCELLED, now)
        result = order
    else:
        result = _drop_unloaded(conn, order, now)
    journal.record(
        conn, "order.redirected", body, now=now, actor="hub", order_id=order_id, door=order.door
    )
    return result


def upsert_order(conn: sqlite3.Connection, ann: Announcement, now: float) -> Order:
    """Create an announced order, or update one we know: policy, parcels and code at any live
    state; size and hold period only before loading (a loaded parcel's clock is running)."""
    existing = get_order(conn, ann.order_id)
    if existing is None:
        return announce_order(conn, ann, now=now)
    if existing.state not in (OrderState.ANNOUNCED, OrderState.LOADED, OrderState.EXPIRED):
        raise TransitionError(f"cannot update an order that is {existing.state.value}")
    updated = replace(existing, policy=ann.policy, parcels=ann.parcels or existing.parcels)
    if existing.state is OrderState.ANNOUNCED:
        updated = replace(
            updated, size=ann.size.value, hold=replace(updated.hold, hold_s=ann.hold_s)
        )
    save_order(conn, updated, now=now)
    save_order_terms(conn, updated, code_key=ann.code_key)
    journal.append_audit(
        conn, "order.updated", now=now, actor="hub", order_id=ann.order_id, door=existing.door
    )
    return updated


class ExpiryService:
    """Hold clocks and the hub's order decisions. Each method is one transaction."""

    def __init__(self, db: Database, clock: Clock) -> None:
        self._db = db
        self._clock = clock

    async def sweep(self, now: float) -> list[str]:
        """Flag every parcel whose hold ran out at `now`; returns their order ids."""
        expired = await self._db.run(expire_due, now)
        if expired:
            _LOG.info("%s parcels expired and await retrieval", len(expired))
        return expired

    async def run(self, interval_s: float, stop: asyncio.Event) -> None:
        """Sweep every `interval_s` until `stop` is set (a long task for the agent's TaskGroup)."""
        while not stop.is_set():
            try:
                await self.sweep(self._clock.now())
            except AgentError as err:
                _LOG.warning("expiry sweep failed: %s", err.reason.value)
            try:
                await asyncio.wait_for(stop.wait(), interval_s)
            except TimeoutError:
                continue

    async def pause_holds_for_door(self, door: int, now: float) -> int:
        """Stops the hold clocks of the parcels in a faulted door; returns how many."""
        return await self._db.run(pause_door_holds, door, now)

    async def resume_holds_for_door(self, door: int, now: float) -> int:
        """Restarts the hold clocks of a door's parcels (not while the whole locker is faulted)."""
        return await self._db.run(resume_door_holds, door, now)

    async def pause_all(self, now: float) -> int:
        """Stops every hold clock: the whole locker is faulted."""
        return await self._db.run(pause_all_holds, now)

    async def resume_all(self, now: float) -> int:
        """Restarts every hold clock once the locker-wide fault is gone."""
        return await self._db.run(resume_all_holds, now)

    async def extend(self, order_id: str, extra_s: float, now: float) -> Order:
        """The hub extends a hold (an EXPIRED parcel becomes collectable again)."""
        return await self._db.run(extend_hold, order_id, extra_s, now)

    async def return_to_sender(self, order_id: str, now: float) -> Order:
        """The hub sends the order back to its sender; a parcel in a door is retrieved first."""
        return await self._db.run(return_order_to_sender, order_id, now)

    async def cancel(self, order_id: str, now: float) -> Order:
        """The hub cancels the order; a parcel in a door waits for a courier."""
        return await self._db.run(cancel_order, order_id, now)

    async def redirect(self, order_id: str, destination: str | None, now: float) -> Order:
        """The hub moves the order to another locker (as a cancel here)."""
        return await self._db.run(redirect_order, order_id, destination, now)

    async def upsert_announcement(self, ann: Announcement) -> Order:
        """Creates or updates the order the hub announced."""
        return await self._db.run(upsert_order, ann, self._clock.now())
