"""The orders repository: rows of `orders` as `agent.domain.orders.Order` values.

Sync functions on a `sqlite3.Connection`, called inside `Database.run` / `Database.read`.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable

from agent.domain.orders import HoldClock, Order, OrderPolicy, OrderState, RetrievalReason
from agent.domain.policy import Withdrawal
from agent.tokens.typed_codes import CodeKeys


def order_from_row(row: sqlite3.Row) -> Order:
    """The `orders` row as an `Order`."""
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
    """The order `order_id`, or None."""
    row = conn.execute("SELECT * FROM orders WHERE order_id = ?", (order_id,)).fetchone()
    return None if row is None else order_from_row(row)


def find_order_by_code_key(conn: sqlite3.Connection, code_keys: CodeKeys) -> Order | None:
    """The order whose typed code has one of `code_keys` (its digests under each ring key)."""
    marks = ",".join("?" * len(code_keys))
    row = conn.execute(f"SELECT * FROM orders WHERE code_key IN ({marks})", code_keys).fetchone()  # noqa: S608 (only ? marks)
    return None if row is None else order_from_row(row)


def orders_in_states(conn: sqlite3.Connection, states: Iterable[OrderState]) -> list[Order]:
    """The orders in any of `states`, by id."""
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
    """Store a new order (with its typed code's lookup key, if it has one)."""
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
    """How many orders there are in each state (state value -> count)."""
    rows = conn.execute("SELECT state, COUNT(*) FROM orders GROUP BY state").fetchall()
    return {str(r[0]): int(r[1]) for r in rows}


def all_orders(conn: sqlite3.Connection) -> list[Order]:
    """Every order the locker knows, in any state."""
    return [order_from_row(r) for r in conn.execute("SELECT * FROM orders")]


def latest_order_id_in_door(conn: sqlite3.Connection, door: int) -> str | None:
    """The order that last changed with `door` as its door, in whatever state."""
    row = conn.execute(
        "SELECT order_id FROM orders WHERE door = ? ORDER BY updated_at DESC LIMIT 1", (door,)
    ).fetchone()
    return None if row is None else str(row[0])


def clear_attention_in_door(
    conn: sqlite3.Connection, door: int, attention: str, now: float
) -> None:
    """Lift the flag `attention` from the orders whose door is `door`."""
    conn.execute(
        "UPDATE orders SET needs_attention = NULL, updated_at = ?"
        " WHERE door = ? AND needs_attention = ?",
        (now, door, attention),
    )


def flag_order(conn: sqlite3.Connection, order_id: str, attention: str, now: float) -> None:
    """Flag an order for staff (`needs_attention`), whatever its state."""
    conn.execute(
        "UPDATE orders SET needs_attention = ?, updated_at = ? WHERE order_id = ?",
        (attention, now, order_id),
    )


def save_order_terms(conn: sqlite3.Connection, order: Order, *, code_key: str | None) -> None:
    """Write back what the hub may change on an announcement: size, policy, and the typed
    code's key (kept when the announcement carries none)."""
    conn.execute(
        "UPDATE orders SET size = ?, accessible = ?, live_required = ?, id_check_required = ?,"
        " high_value = ?, code_key = COALESCE(?, code_key), min_age = ?, recipient_salt = ?,"
        " recipient_digest = ? WHERE order_id = ?",
        (
            order.size,
            int(order.policy.accessible),
            int(order.policy.live_required),
            int(order.policy.id_check_required),
            int(order.policy.high_value),
            code_key,
            order.policy.min_age,
            order.policy.recipient_salt,
            order.policy.recipient_digest,
            order.order_id,
        ),
    )


def withdrawal_of(conn: sqlite3.Connection, order: Order) -> Withdrawal | None:
    """The hub's cancel or return-to-sender decision for a parcel still in its door, if any."""
    row = conn.execute(
        "SELECT reason FROM retrievals WHERE order_id = ?", (order.order_id,)
    ).fetchone()
    return None if row is None else Withdrawal(row[0])


def retrieval_reasons(conn: sqlite3.Connection) -> dict[str, str]:
    """Every order the hub wants taken out, with its reason."""
    return {str(r[0]): str(r[1]) for r in conn.execute("SELECT order_id, reason FROM retrievals")}


def put_retrieval(
    conn: sqlite3.Connection, order_id: str, reason: RetrievalReason, now: float
) -> None:
    """Put an order on the couriers' pickup list (a later decision replaces the reason)."""
    conn.execute(
        "INSERT INTO retrievals (order_id, reason, requested_at) VALUES (?, ?, ?)"
        " ON CONFLICT (order_id) DO UPDATE SET reason = excluded.reason",
        (order_id, reason.value, now),
    )


def token_spent(conn: sqlite3.Connection, cti: bytes) -> bool:
    """Whether the token with this id has opened a door (or been accepted at a counter)."""
    return conn.execute("SELECT 1 FROM spent_tokens WHERE cti = ?", (cti,)).fetchone() is not None


def spend_token(
    conn: sqlite3.Connection, cti: bytes, order_id: str, now: float, *, opening_id: int | None
) -> None:
    """Mark a token used (`opening_id`: the door opening it caused, None at a counter)."""
    conn.execute(
        "INSERT INTO spent_tokens (cti, order_id, spent_at, opening_id) VALUES (?, ?, ?, ?)",
        (cti, order_id, now, opening_id),
    )


def unspend_token(conn: sqlite3.Connection, cti: bytes) -> None:
    """The door did not open: the token may be used again."""
    conn.execute("DELETE FROM spent_tokens WHERE cti = ?", (cti,))


def unspend_tokens_of_opening(conn: sqlite3.Connection, opening_id: int) -> None:
    """The opening was undone: the tokens it spent may be used again."""
    conn.execute("DELETE FROM spent_tokens WHERE opening_id = ?", (opening_id,))
