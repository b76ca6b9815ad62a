"""Orders arriving at the locker: announced by the hub, placed in a door by a courier.

Sync transaction functions (run inside `Database.run`) plus a small service around them.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass, field, replace

from agent.domain.doors import DoorSize, assign_door
from agent.domain.orders import HoldClock, Order, OrderEvent, OrderPolicy, OrderState
from agent.errors import NoDoorAvailable, UnknownOrder
from agent.store import journal
from agent.store.doors import list_doors
from agent.store.orders import get_order, insert_order, save_order


@dataclass(frozen=True, slots=True)
class Announcement:
    """What the hub tells us about an order before its parcel arrives."""

    order_id: str
    size: DoorSize
    hold_s: float
    policy: OrderPolicy = field(default_factory=OrderPolicy)
    parcels: tuple[str, ...] = ()
    code_key: str | None = None  # keyed hash of the typed code, never the code


def announce_order(conn: sqlite3.Connection, ann: Announcement, *, now: float) -> Order:
    """Create an ANNOUNCED order (idempotent: an existing order is returned unchanged)."""
    existing = get_order(conn, ann.order_id)
    if existing is not None:
        return existing
    order = Order(
        order_id=ann.order_id,
        state=OrderState.ANNOUNCED,
        size=ann.size.value,
        door=None,
        hold=HoldClock(hold_s=ann.hold_s),
        policy=ann.policy,
        parcels=ann.parcels,
    )
    insert_order(conn, order, code_key=ann.code_key, now=now)
    journal.record(
        conn,
        "order.announced",
        {"order": ann.order_id, "size": ann.size.value},
        now=now,
        order_id=ann.order_id,
    )
    return order


def load_into_door(
    conn: sqlite3.Connection,
    order_id: str,
    *,
    now: float,
    door: int | None = None,
    actor: str = "courier",
) -> Order:
    """Put an announced order's parcel in `door` (or the best free door): it becomes LOADED."""
    order = get_order(conn, order_id)
    if order is None:
        raise UnknownOrder(order_id)
    doors = list_doors(conn)
    if door is None:
        chosen = assign_door(doors, DoorSize(order.size), accessible=order.policy.accessible)
        if chosen is None:
            raise NoDoorAvailable(order.size)
        door = chosen.number
    elif not any(d.number == door and d.assignable for d in doors):
        raise NoDoorAvailable(str(door))
    loaded = replace(order.apply(OrderEvent.LOAD, now), door=door)
    save_order(conn, loaded, now=now)
    journal.record(
        conn,
        "order.loaded",
        {"order": order_id, "door": door, "hold_s": loaded.hold.hold_s},
        now=now,
        actor=actor,
        order_id=order_id,
        door=door,
    )
    return loaded
