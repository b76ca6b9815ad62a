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
from agent.domain.doors import DoorSize
from agent.domain.loads import LoadEvent
from agent.domain.orders import Order, OrderEvent, OrderState, RetrievalReason
from agent.domain.policy import Withdrawal
from agent.errors import AgentError, TransitionError
from agent.reasons import Reason
from agent.services.orders import Announcement, announce_order
from agent.store import journal, loads
from agent.store.db import Database
from agent.store.doors import get_door
from agent.store.orders import get_order, orders_in_states, save_order, save_order_terms

_LOG = logging.getLogger(__name__)

_ALL_PAUSED = "holds_paused_all"
_ALIVE_AT = "holds_alive_at"
_HOLDING = (OrderState.LOADED,)


def _orders_in_door(conn: sqlite3.Connection, door: int) -> list[Order]:
    return [o for o in orders_in_states(conn, _HOLDING) if o.door == door]


def _door_faulted(conn: sqlite3.Connection, door: int | None) -> bool:
    if door is None:
        return False
    found = get_door(conn, door)
    return found is not None and found.fault is not None


def _locker_paused(conn: sqlite3.Connection) -> bool:
    return journal.get_setting(conn, _ALL_PAUSED) == "1"


def _set_paused(conn: sqlite3.Connection, orders: list[Order], pause: bool, now: float) -> int:
    changed = 0
    for order in orders:
        hold = order.hold.pause(now) if pause else order.hold.resume(now)
        if hold != order.hold:
            save_order(conn, replace(order, hold=hold), now=now)
            changed += 1
    return changed


def pause_door_holds(conn: sqlite3.Connection, door: int, now: float) -> int:
    """In a transaction: stop the hold clock of every parcel waiting in `door`."""
    changed = _set_paused(conn, _orders_in_door(conn, door), True, now)
    if changed:
        journal.append_audit(conn, "hold.paused", now=now, door=door, detail={"orders": changed})
    return changed


def resume_door_holds(conn: sqlite3.Connection, door: int, now: float) -> int:
    """In a transaction: restart the clocks of `door` unless the whole locker is still faulted."""
    if _locker_paused(conn):
        return 0
    changed = _set_paused(conn, _orders_in_door(conn, door), False, now)
    if changed:
        journal.append_audit(conn, "hold.resumed", now=now, door=door, detail={"orders": changed})
    return changed


def pause_all_holds(conn: sqlite3.Connection, now: float) -> int:
    """In a transaction: a locker-wide fault stops every hold clock (idempotent)."""
    if _locker_paused(conn):
        return 0
    journal.put_setting(conn, _ALL_PAUSED, "1")
    changed = _set_paused(conn, orders_in_states(conn, _HOLDING), True, now)
    journal.append_audit(conn, "hold.paused_all", now=now, detail={"orders": changed})
    return changed


def resume_all_holds(conn: sqlite3.Connection, now: float) -> int:
    """Restart every clock except those of parcels whose own door is still faulted (nothing
    to do unless a locker-wide pause is in force)."""
    if not _locker_paused(conn):
        return 0
    journal.put_setting(conn, _ALL_PAUSED, "0")
    waiting = orders_in_states(conn, _HOLDING)
    healthy = [o for o in waiting if not _door_faulted(conn, o.door)]
    changed = _set_paused(conn, healthy, False, now)
    journal.append_audit(conn, "hold.resumed_all", now=now, detail={"orders": changed})
    return changed


def note_alive(conn: sqlite3.Connection, now: float) -> None:
    """The heartbeat the downtime credit starts from (written by every expiry sweep)."""
    journal.put_setting(conn, _ALIVE_AT, repr(now))


def credit_downtime(conn: sqlite3.Connection, now: float) -> int:
    """At start: the time the agent was off counts as a locker-wide fault (nobody could collect),
    so it is added to the paused time of every running hold, from the last heartbeat (or the
    hold's start, if later) to `now`. Holds already paused (a faulted door, a locker-wide fault)
    stayed paused through the gap anyway. Returns how many holds were credited."""
    raw = journal.get_setting(conn, _ALIVE_AT)
    note_alive(conn, now)
    if raw is None:
        return 0
    since = float(raw)
    if now <= since:
        return 0  # the clock went back: nothing to credit
    credited = 0
    for order in orders_in_states(conn, _HOLDING):
        hold = order.hold
        if hold.started_at is None or hold.paused:
            continue
        start = max(since, hold.started_at)
        if now <= start:
            continue
        save_order(conn, replace(order, hold=hold.pause(start).resume(now)), now=now)
        credited += 1
    detail = {"off_s": round(now - since, 1), "orders": credited}
    journal.append_audit(conn, "hold.downtime_credited", now=now, detail=detail)
    return credited


def start_hold(conn: sqlite3.Connection, order: Order, now: float) -> Order:
    """`order` just loaded at `now`: its clock starts paused if its door or the locker is down."""
    if _locker_paused(conn) or _door_faulted(conn, order.door):
        return replace(order, hold=order.hold.pause(now))
    return order


def expire_due(conn: sqlite3.Connection, now: float) -> list[str]:
    """In a transaction: every loaded pickup whose hold ran out becomes EXPIRED (+ event);
    the sweep is also the heartbeat that `credit_downtime` measures the agent's off time from."""
    note_alive(conn, now)
    expired = []
    for order in orders_in_states(conn, _HOLDING):
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
        raise AgentError(order_id, reason=Reason.ORDER_UNKNOWN)
    return order


def extend_hold(conn: sqlite3.Connection, order_id: str, extra_s: float, now: float) -> Order:
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


def withdrawal_of(conn: sqlite3.Connection, order: Order) -> Withdrawal | None:
    """The hub's cancel or return-to-sender decision for a parcel still in its door, if any."""
    row = conn.execute(
        "SELECT reason FROM retrievals WHERE order_id = ?", (order.order_id,)
    ).fetchone()
    return None if row is None else Withdrawal(row[0])


def request_retrieval(
    conn: sqlite3.Connection, order: Order, reason: RetrievalReason, now: float
) -> None:
    """Put `order` on the couriers' pickup list (it stays in its door until collected)."""
    conn.execute(
        "INSERT INTO retrievals (order_id, reason, requested_at) VALUES (?, ?, ?)"
        " ON CONFLICT (order_id) DO UPDATE SET reason = excluded.reason",
        (order.order_id, reason.value, now),
    )
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
        return await self._db.run(pause_door_holds, door, now)

    async def resume_holds_for_door(self, door: int, now: float) -> int:
        return await self._db.run(resume_door_holds, door, now)

    async def pause_all(self, now: float) -> int:
        return await self._db.run(pause_all_holds, now)

    async def resume_all(self, now: float) -> int:
        return await self._db.run(resume_all_holds, now)

    async def extend(self, order_id: str, extra_s: float, now: float) -> Order:
        """The hub extends a hold (an EXPIRED parcel becomes collectable again)."""
        return await self._db.run(extend_hold, order_id, extra_s, now)

    async def return_to_sender(self, order_id: str, now: float) -> Order:
        return await self._db.run(return_order_to_sender, order_id, now)

    async def cancel(self, order_id: str, now: float) -> Order:
        return await self._db.run(cancel_order, order_id, now)

    async def redirect(self, order_id: str, destination: str | None, now: float) -> Order:
        return await self._db.run(redirect_order, order_id, destination, now)

    async def upsert_announcement(self, ann: Announcement) -> Order:
        return await self._db.run(upsert_order, ann, self._clock.now())


def default_announcement(order_id: str, size: DoorSize, hold_s: float) -> Announcement:
    """An order the hub has not told us about (created from its parcel label)."""
    return Announcement(order_id=order_id, size=size, hold_s=hold_s)
