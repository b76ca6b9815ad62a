"""Hold clocks as stored: pausing and resuming the parcels of a door or of the whole locker.

Steps of a unit of work (sync, on the transaction's `sqlite3.Connection`) shared by every
service that faults a door, loads a parcel or starts the agent: the facts come from the
store (the locker-wide pause flag, door faults), what happens to a clock from
`agent.domain.orders` (`HoldClock`, `hold_on_load`).
"""

from __future__ import annotations

import sqlite3
from dataclasses import replace

from agent.domain.orders import Order, OrderState, hold_on_load
from agent.store import journal
from agent.store.doors import get_door
from agent.store.orders import orders_in_states, save_order

_ALL_PAUSED = "holds_paused_all"
_ALIVE_AT = "holds_alive_at"
HOLDING = (OrderState.LOADED,)


def _orders_in_door(conn: sqlite3.Connection, door: int) -> list[Order]:
    return [o for o in orders_in_states(conn, HOLDING) if o.door == door]


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
    changed = _set_paused(conn, orders_in_states(conn, HOLDING), True, now)
    journal.append_audit(conn, "hold.paused_all", now=now, detail={"orders": changed})
    return changed


def resume_all_holds(conn: sqlite3.Connection, now: float) -> int:
    """Restart every clock except those of parcels whose own door is still faulted (nothing
    to do unless a locker-wide pause is in force)."""
    if not _locker_paused(conn):
        return 0
    journal.put_setting(conn, _ALL_PAUSED, "0")
    waiting = orders_in_states(conn, HOLDING)
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
    for order in orders_in_states(conn, HOLDING):
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
    return hold_on_load(
        order, now, door_faulted=_door_faulted(conn, order.door), locker_paused=_locker_paused(conn)
    )
