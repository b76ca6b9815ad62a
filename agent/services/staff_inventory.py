"""The staff inventory: every door with the orders in it and what needs attention (a read)."""

from __future__ import annotations

import sqlite3

from agent.domain.orders import IN_A_DOOR, Order, OrderState
from agent.store.doors import list_doors
from agent.store.orders import all_orders


def _order_entry(order: Order, now: float) -> dict[str, object]:
    return {
        "order": order.order_id,
        "kind": order.kind,
        "state": order.state.value,
        "size": order.size,
        "parcels": list(order.parcels),
        "needs_attention": order.needs_attention,
        "hold_remaining_s": round(order.hold.remaining(now)),
        "hold_paused": order.hold.paused,
    }


def door_inventory(conn: sqlite3.Connection, now: float) -> dict[str, object]:
    """Every door with its orders, states, flags and what needs attention (no sensor)."""
    orders = all_orders(conn)
    in_doors: dict[int, list[Order]] = {}
    for order in orders:
        if order.door is not None and order.state in IN_A_DOOR:
            in_doors.setdefault(order.door, []).append(order)
    doors = []
    for door in list_doors(conn):
        held = in_doors.get(door.number, [])
        attention = [f"fault:{door.fault}"] if door.fault else []
        attention += [o.needs_attention for o in held if o.needs_attention]
        attention += [f"expired:{o.order_id}" for o in held if o.state is OrderState.EXPIRED]
        doors.append(
            {
                "door": door.number,
                "size": door.size.value,
                "low": door.low,
                "enabled": door.enabled,
                "fault": door.fault,
                "fault_since": door.fault_since,
                "occupied": door.occupied,
                "orders": [_order_entry(o, now) for o in held],
                "needs_attention": attention,
            }
        )
    elsewhere = [
        _order_entry(o, now) | {"door": o.door}
        for o in orders
        if o.needs_attention and not (o.door is not None and o.state in IN_A_DOOR)
    ]
    return {"doors": doors, "orders_needing_attention": elsewhere}
