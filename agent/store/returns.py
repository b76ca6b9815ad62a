"""The returns repository: rows of `returns` as `Return` values, states from the domain.

Sync functions on a `sqlite3.Connection`, called inside `Database.run` / `Database.read`.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass

from agent.domain.doors import DoorSize
from agent.domain.returns import ReturnState
from agent.tokens.typed_codes import CodeKeys

PACKAGING = "packaging"  # `purpose` of a reusable-packaging return (no order behind it)


@dataclass(frozen=True, slots=True)
class Return:
    """A customer's return as stored."""

    order_ref: str
    size: DoorSize
    state: ReturnState
    door: int | None
    receipt: str | None
    packaging: bool
    items: int


def return_from_row(row: sqlite3.Row) -> Return:
    """The `returns` row as a `Return`."""
    return Return(
        order_ref=str(row["order_ref"]),
        size=DoorSize(row["size"]),
        state=ReturnState(row["state"]),
        door=row["door"],
        receipt=row["receipt"],
        packaging=row["purpose"] == PACKAGING,
        items=int(row["items"]),
    )


def get(conn: sqlite3.Connection, order_ref: str) -> Return | None:
    """The one with this key, or None."""
    row = conn.execute("SELECT * FROM returns WHERE order_ref = ?", (order_ref,)).fetchone()
    return None if row is None else return_from_row(row)


def find_by_code_key(conn: sqlite3.Connection, code_keys: CodeKeys) -> Return | None:
    """The return whose typed code has one of `code_keys` (its digests under each ring key)."""
    marks = ",".join("?" * len(code_keys))
    row = conn.execute(f"SELECT * FROM returns WHERE code_key IN ({marks})", code_keys).fetchone()  # noqa: S608 (only ? marks)
    return None if row is None else return_from_row(row)


def in_state(conn: sqlite3.Connection, state: ReturnState) -> list[Return]:
    """The returns in `state`, by reference."""
    rows = conn.execute(
        "SELECT * FROM returns WHERE state = ? ORDER BY order_ref", (state.value,)
    ).fetchall()
    return [return_from_row(r) for r in rows]


def receipt_taken(conn: sqlite3.Connection, receipt: str) -> bool:
    """Whether a receipt reference is already used on this device."""
    return (
        conn.execute("SELECT 1 FROM returns WHERE receipt = ?", (receipt,)).fetchone() is not None
    )


@dataclass(frozen=True, slots=True)
class HandIn:
    """A return being handed in: where, by what path, with what receipt."""

    order_ref: str
    size: DoorSize
    state: ReturnState
    door: int | None
    receipt: str
    via: str
    evidence_sha256: str | None = None


def put_handed_in(conn: sqlite3.Connection, hand_in: HandIn, now: float) -> None:
    """Insert the return, or update an expected one (its code key stays)."""
    conn.execute(
        "INSERT INTO returns (order_ref, size, state, door, receipt, via, evidence_sha256,"
        " created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"
        " ON CONFLICT (order_ref) DO UPDATE SET size = excluded.size, state = excluded.state,"
        " door = excluded.door, receipt = excluded.receipt, via = excluded.via,"
        " evidence_sha256 = excluded.evidence_sha256, updated_at = excluded.updated_at",
        (
            hand_in.order_ref,
            hand_in.size.value,
            hand_in.state.value,
            hand_in.door,
            hand_in.receipt,
            hand_in.via,
            hand_in.evidence_sha256,
            now,
            now,
        ),
    )


def mark_packaging(
    conn: sqlite3.Connection, order_ref: str, items: int, credit_ref: str | None
) -> None:
    """Mark a return as reusable packaging with its item count and credit reference."""
    conn.execute(
        "UPDATE returns SET purpose = ?, items = ?, credit_ref = ? WHERE order_ref = ?",
        (PACKAGING, items, credit_ref, order_ref),
    )


def set_state(
    conn: sqlite3.Connection,
    order_ref: str,
    state: ReturnState,
    now: float,
    *,
    needs_attention: str | None = None,
) -> None:
    """Move a return to `state` (a flag for staff is kept unless one is given)."""
    conn.execute(
        "UPDATE returns SET state = ?, needs_attention = COALESCE(?, needs_attention),"
        " updated_at = ? WHERE order_ref = ?",
        (state.value, needs_attention, now, order_ref),
    )


def free_door(conn: sqlite3.Connection, order_ref: str, state: ReturnState, now: float) -> None:
    """Move a return to `state` out of any door."""
    conn.execute(
        "UPDATE returns SET state = ?, door = NULL, updated_at = ? WHERE order_ref = ?",
        (state.value, now, order_ref),
    )


def move_if(
    conn: sqlite3.Connection, order_ref: str, was: ReturnState, now_state: ReturnState, now: float
) -> bool:
    """Move a return from `was` to `now_state`; False if it no longer was (taken meanwhile)."""
    cur = conn.execute(
        "UPDATE returns SET state = ?, updated_at = ? WHERE order_ref = ? AND state = ?",
        (now_state.value, now, order_ref, was.value),
    )
    return cur.rowcount > 0


def delete(conn: sqlite3.Connection, order_ref: str) -> None:
    """Forget a return (a packaging drop-off whose door never opened)."""
    conn.execute("DELETE FROM returns WHERE order_ref = ?", (order_ref,))


def expect(
    conn: sqlite3.Connection, order_ref: str, size: DoorSize, code_key: str | None, now: float
) -> None:
    """Note an announced return; an announcement again updates it only while still expected."""
    expected = ReturnState.EXPECTED.value
    conn.execute(
        "INSERT INTO returns (order_ref, size, state, code_key, created_at, updated_at)"
        " VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (order_ref) DO UPDATE SET"
        " size = excluded.size, code_key = excluded.code_key, updated_at = excluded.updated_at"
        " WHERE returns.state = ?",
        (order_ref, size.value, expected, code_key, now, now, expected),
    )


def packaging_items_handed_in(conn: sqlite3.Connection) -> int:
    """All packaging items handed in so far (not counting one whose door is still opening)."""
    (total,) = conn.execute(
        "SELECT COALESCE(SUM(items), 0) FROM returns WHERE purpose = ? AND state != ?",
        (PACKAGING, ReturnState.OPENING.value),
    ).fetchone()
    return int(total)
