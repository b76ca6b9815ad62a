"""The loads repository: rows of `loads` as `agent.domain.loads.Load` values.

Sync functions on a `sqlite3.Connection`, called inside `Database.run` / `Database.read`.
"""

from __future__ import annotations

import sqlite3

from agent.domain.loads import LIVE, Load, LoadState

_LIVE_STATES = ",".join(f"'{s.value}'" for s in sorted(LIVE))


def load_from_row(row: sqlite3.Row) -> Load:
    """The `loads` row as a `Load`."""
    return Load(
        load_id=int(row["id"]),
        order_id=str(row["order_id"]),
        parcel_id=str(row["parcel_id"]),
        door=int(row["door"]),
        actor=str(row["actor"]),
        state=LoadState(row["state"]),
        created_at=float(row["created_at"]),
        sensor=row["sensor"],
        finished_at=row["finished_at"],
    )


def get(conn: sqlite3.Connection, load_id: int) -> Load | None:
    """The one with this key, or None."""
    row = conn.execute("SELECT * FROM loads WHERE id = ?", (load_id,)).fetchone()
    return None if row is None else load_from_row(row)


def add_pending(
    conn: sqlite3.Connection, order_id: str, parcel_id: str, door: int, *, actor: str, now: float
) -> int:
    """Note a new pending load (it occupies `door`); its id."""
    cur = conn.execute(
        "INSERT INTO loads (order_id, parcel_id, door, actor, state, created_at)"
        " VALUES (?, ?, ?, ?, ?, ?)",
        (order_id, parcel_id, door, actor, LoadState.PENDING.value, now),
    )
    return int(cur.lastrowid or 0)


def save(conn: sqlite3.Connection, load: Load) -> None:
    """Write back what a transition changes (state, sensor, finish time)."""
    conn.execute(
        "UPDATE loads SET state = ?, sensor = ?, finished_at = ? WHERE id = ?",
        (load.state.value, load.sensor, load.finished_at, load.load_id),
    )


def pending_door_of_order(conn: sqlite3.Connection, order_id: str) -> int | None:
    """The door a pending load of `order_id` reserved (the oldest), if any."""
    row = conn.execute(
        "SELECT door FROM loads WHERE order_id = ? AND state = ? ORDER BY id LIMIT 1",
        (order_id, LoadState.PENDING.value),
    ).fetchone()
    return None if row is None else int(row[0])


def parcel_is_live(conn: sqlite3.Connection, order_id: str, parcel_id: str) -> bool:
    """Whether this parcel is already in a pending or confirmed load."""
    row = conn.execute(
        f"SELECT 1 FROM loads WHERE order_id = ? AND parcel_id = ? AND state IN ({_LIVE_STATES})",  # noqa: S608
        (order_id, parcel_id),
    ).fetchone()
    return row is not None


def pending_on_door(conn: sqlite3.Connection, door: int) -> list[Load]:
    """The pending loads that reserved `door`, oldest first."""
    rows = conn.execute(
        "SELECT * FROM loads WHERE door = ? AND state = ? ORDER BY id",
        (door, LoadState.PENDING.value),
    ).fetchall()
    return [load_from_row(r) for r in rows]


def all_pending(conn: sqlite3.Connection) -> list[Load]:
    """Loads started but not confirmed, oldest first."""
    rows = conn.execute(
        "SELECT * FROM loads WHERE state = ? ORDER BY id", (LoadState.PENDING.value,)
    ).fetchall()
    return [load_from_row(r) for r in rows]


def pending_of_order(conn: sqlite3.Connection, order_id: str) -> list[Load]:
    """The pending loads of `order_id`, oldest first."""
    rows = conn.execute(
        "SELECT * FROM loads WHERE order_id = ? AND state = ? ORDER BY id",
        (order_id, LoadState.PENDING.value),
    ).fetchall()
    return [load_from_row(r) for r in rows]
