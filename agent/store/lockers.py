"""Rows of the doors and orders tables, translated into domain values at the edge.

Sync functions on a `sqlite3.Connection`, called inside `Database.run` / `Database.read`.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable, Sequence

from agent.domain.doors import Door, DoorSize
from agent.domain.loads import LoadState
from agent.domain.orders import IN_A_DOOR, HoldClock, Order, OrderPolicy, OrderState
from agent.domain.returns import IN_A_DOOR as RETURN_IN_A_DOOR


def door_from_row(row: sqlite3.Row, occupied: bool) -> Door:
    return Door(
        number=int(row["number"]),
        size=DoorSize(row["size"]),
        low=bool(row["low"]),
        enabled=bool(row["enabled"]),
        fault=row["fault"],
        occupied=occupied,
    )


def list_doors(conn: sqlite3.Connection) -> list[Door]:
    in_door = ",".join(f"'{s.value}'" for s in sorted(IN_A_DOOR))
    return_in_door = ",".join(f"'{s.value}'" for s in sorted(RETURN_IN_A_DOOR))
    occupied = {
        int(r[0])
        for r in conn.execute(
            f"SELECT door FROM orders WHERE door IS NOT NULL AND state IN ({in_door})"  # noqa: S608
            # a door reserved by a courier's pending load, or holding a customer's return
            f" UNION SELECT door FROM loads WHERE state = '{LoadState.PENDING.value}'"
            " UNION SELECT door FROM returns WHERE door IS NOT NULL"
            f" AND state IN ({return_in_door})"
        )
    }
    rows = conn.execute("SELECT * FROM doors ORDER BY number").fetchall()
    return [door_from_row(r, int(r["number"]) in occupied) for r in rows]


def ensure_doors(conn: sqlite3.Connection, layout: Iterable[tuple[int, DoorSize, bool]]) -> int:
    """Insert doors of the configured layout that the database does not know yet."""
    added = 0
    for number, size, low in layout:
        cur = conn.execute(
            "INSERT INTO doors (number, size, low) VALUES (?, ?, ?) ON CONFLICT DO NOTHING",
            (number, size.value, int(low)),
        )
        added += cur.rowcount
    return added


def order_from_row(row: sqlite3.Row) -> Order:
    return Order(
        order_id=row["order_id"],
        state=OrderState(row["state"]),
        size=row["size"],
        door=row["door"],
        hold=HoldClock(
            hold_s=float(row["hold_s"]),
            started_at=row["hold_started_at"],
            paused_s=float(row["hold_paused_s"]),
            paused_since=row["hold_paused_since"],
        ),
        policy=OrderPolicy(
            live_required=bool(row["live_required"]),
            id_check_required=bool(row["id_check_required"]),
            high_value=bool(row["high_value"]),
            accessible=bool(row["accessible"]),
            min_age=row["min_age"],
            recipient_salt=row["recipient_salt"],
            recipient_digest=row["recipient_digest"],
        ),
        parcels=tuple(json.loads(row["parcels"])),
        kind=row["kind"],
        needs_attention=row["needs_attention"],
    )


def get_order(conn: sqlite3.Connection, order_id: str) -> Order | None:
    row = conn.execute("SELECT * FROM orders WHERE order_id = ?", (order_id,)).fetchone()
    return None if row is None else order_from_row(row)


def find_order_by_code_key(conn: sqlite3.Connection, code_key: str) -> Order | None:
    row = conn.execute("SELECT * FROM orders WHERE code_key = ?", (code_key,)).fetchone()
    return None if row is None else order_from_row(row)


def orders_in_states(conn: sqlite3.Connection, states: Iterable[OrderState]) -> list[Order]:
    wanted = [s.value for s in states]
    marks = ",".join("?" * len(wanted))
    rows = conn.execute(
        f"SELECT * FROM orders WHERE state IN ({marks}) ORDER BY order_id",  # noqa: S608
        wanted,
    ).fetchall()
    return [order_from_row(r) for r in rows]


def insert_order(
    conn: sqlite3.Connection, order: Order, *, code_key: str | None, now: float
) -> None:
    conn.execute(
        "INSERT INTO orders (order_id, kind, state, size, door, parcels, accessible,"
        " live_required, id_check_required, high_value, hold_s, hold_started_at,"
        " hold_paused_s, hold_paused_since, code_key, needs_attention, created_at, updated_at,"
        " min_age, recipient_salt, recipient_digest)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (
            order.order_id,
            order.kind,
            order.state.value,
            order.size,
            order.door,
            json.dumps(list(order.parcels)),
            int(order.policy.accessible),
            int(order.policy.live_required),
            int(order.policy.id_check_required),
            int(order.policy.high_value),
            order.hold.hold_s,
            order.hold.started_at,
            order.hold.paused_s,
            order.hold.paused_since,
            code_key,
            order.needs_attention,
            now,
            now,
            order.policy.min_age,
            order.policy.recipient_salt,
            order.policy.recipient_digest,
        ),
    )


def save_order(conn: sqlite3.Connection, order: Order, *, now: float) -> None:
    """Write back the mutable parts of an order (state, door, hold clock, flags, parcels)."""
    conn.execute(
        "UPDATE orders SET state = ?, door = ?, parcels = ?, hold_s = ?, hold_started_at = ?,"
        " hold_paused_s = ?, hold_paused_since = ?, needs_attention = ?, updated_at = ?"
        " WHERE order_id = ?",
        (
            order.state.value,
            order.door,
            json.dumps(list(order.parcels)),
            order.hold.hold_s,
            order.hold.started_at,
            order.hold.paused_s,
            order.hold.paused_since,
            order.needs_attention,
            now,
            order.order_id,
        ),
    )


def count_orders_by_state(conn: sqlite3.Connection) -> dict[str, int]:
    rows = conn.execute("SELECT state, COUNT(*) FROM orders GROUP BY state").fetchall()
    return {str(r[0]): int(r[1]) for r in rows}


def begin_opening(
    conn: sqlite3.Connection, door: int, *, order_id: str | None, purpose: str, now: float
) -> int:
    """Record that a door is about to be commanded open (closed by `finish_opening`)."""
    cur = conn.execute(
        "INSERT INTO door_openings (door, order_id, purpose, requested_at) VALUES (?, ?, ?, ?)",
        (door, order_id, purpose, now),
    )
    return int(cur.lastrowid or 0)


def finish_opening(conn: sqlite3.Connection, opening_id: int, result: str, now: float) -> None:
    conn.execute(
        "UPDATE door_openings SET result = ?, finished_at = ? WHERE id = ?",
        (result, now, opening_id),
    )


def unfinished_openings(conn: sqlite3.Connection) -> Sequence[sqlite3.Row]:
    return conn.execute("SELECT * FROM door_openings WHERE result IS NULL ORDER BY id").fetchall()
