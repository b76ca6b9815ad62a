"""The doors repository: rows of `doors` (and their openings) as domain values.

Sync functions on a `sqlite3.Connection`, called inside `Database.run` / `Database.read`.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from agent.domain.doors import Door, DoorSize, OpeningResult
from agent.domain.loads import LoadState
from agent.domain.orders import IN_A_DOOR, OrderState
from agent.domain.returns import IN_A_DOOR as RETURN_IN_A_DOOR
from agent.errors import UnknownDoor


def door_from_row(row: sqlite3.Row, occupied: bool) -> Door:
    """The `doors` row as a `Door` (`occupied` is decided by the caller)."""
    return Door(
        number=int(row["number"]),
        size=DoorSize(row["size"]),
        low=bool(row["low"]),
        enabled=bool(row["enabled"]),
        fault=row["fault"],
        occupied=occupied,
        fault_since=row["fault_since"],
    )


def _occupied(conn: sqlite3.Connection) -> set[int]:
    in_door = ",".join(f"'{s.value}'" for s in sorted(IN_A_DOOR))
    return_in_door = ",".join(f"'{s.value}'" for s in sorted(RETURN_IN_A_DOOR))
    return {
        int(r[0])
        for r in conn.execute(
            f"SELECT door FROM orders WHERE door IS NOT NULL AND state IN ({in_door})"  # noqa: S608
            # a door reserved by a courier's pending load, or holding a customer's return
            f" UNION SELECT door FROM loads WHERE state = '{LoadState.PENDING.value}'"
            " UNION SELECT door FROM returns WHERE door IS NOT NULL"
            f" AND state IN ({return_in_door})"
        )
    }


def list_doors(conn: sqlite3.Connection) -> list[Door]:
    """Every door, with whether an order, a pending load or a return occupies it."""
    occupied = _occupied(conn)
    rows = conn.execute("SELECT * FROM doors ORDER BY number").fetchall()
    return [door_from_row(r, int(r["number"]) in occupied) for r in rows]


def get_door(conn: sqlite3.Connection, number: int) -> Door | None:
    """The door `number`, or None if the locker has no such door."""
    row = conn.execute("SELECT * FROM doors WHERE number = ?", (number,)).fetchone()
    return None if row is None else door_from_row(row, number in _occupied(conn))


def require_door(conn: sqlite3.Connection, number: int) -> Door:
    """The door `number`; `UnknownDoor` if the locker has no such door."""
    found = get_door(conn, number)
    if found is None:
        raise UnknownDoor(str(number))
    return found


def save_door(conn: sqlite3.Connection, door: Door) -> None:
    """Write back what the door's service life changes (enabled, fault, since when)."""
    conn.execute(
        "UPDATE doors SET enabled = ?, fault = ?, fault_since = ? WHERE number = ?",
        (int(door.enabled), door.fault, door.fault_since, door.number),
    )


def set_sensor(conn: sqlite3.Connection, number: int, reading: str) -> None:
    """The door sensor's last stored reading (`SensorState` value)."""
    conn.execute("UPDATE doors SET sensor = ? WHERE number = ?", (reading, number))


def sensor_readings(conn: sqlite3.Connection) -> dict[int, str]:
    """The last stored sensor reading of every door."""
    rows = conn.execute("SELECT number, sensor FROM doors").fetchall()
    return {int(r[0]): str(r[1]) for r in rows}


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


def begin_opening(
    conn: sqlite3.Connection, door: int, *, order_id: str | None, purpose: str, now: float
) -> int:
    """Record that a door is about to be commanded open (closed by `finish_opening`)."""
    cur = conn.execute(
        "INSERT INTO door_openings (door, order_id, purpose, requested_at) VALUES (?, ?, ?, ?)",
        (door, order_id, purpose, now),
    )
    return int(cur.lastrowid or 0)


def finish_opening(
    conn: sqlite3.Connection, opening_id: int, result: OpeningResult, now: float
) -> None:
    """Record how a door opening ended."""
    conn.execute(
        "UPDATE door_openings SET result = ?, finished_at = ? WHERE id = ?",
        (result.value, now, opening_id),
    )


def unfinished_openings(conn: sqlite3.Connection) -> Sequence[sqlite3.Row]:
    """Openings that never got a result (a restart cut them off), oldest first."""
    return conn.execute("SELECT * FROM door_openings WHERE result IS NULL ORDER BY id").fetchall()


def opening_under_way(conn: sqlite3.Connection, door: int, purpose: str) -> bool:
    """Whether an opening of `door` for `purpose` was commanded and has no result yet."""
    row = conn.execute(
        "SELECT 1 FROM door_openings WHERE door = ? AND purpose = ? AND result IS NULL",
        (door, purpose),
    ).fetchone()
    return row is not None


def openings_of_order(
    conn: sqlite3.Connection, order_id: str, purposes: Sequence[str]
) -> list[sqlite3.Row]:
    """The openings of an order's door for any of `purposes`, newest first."""
    marks = ",".join("?" * len(purposes))
    return conn.execute(
        f"SELECT * FROM door_openings WHERE order_id = ? AND purpose IN ({marks})"  # noqa: S608
        " ORDER BY id DESC",
        (order_id, *purposes),
    ).fetchall()


def opened_unjudged(conn: sqlite3.Connection, purposes: Sequence[str]) -> list[sqlite3.Row]:
    """Openings that opened but supervision has not judged (no outcome), oldest first."""
    marks = ",".join("?" * len(purposes))
    return conn.execute(
        f"SELECT * FROM door_openings WHERE result = ? AND outcome IS NULL"  # noqa: S608
        f" AND purpose IN ({marks}) ORDER BY id",
        (OpeningResult.OPENED.value, *purposes),
    ).fetchall()


def set_opening_outcome(conn: sqlite3.Connection, opening_id: int, outcome: str) -> None:
    """What supervision (or a restart) concluded about an opening."""
    conn.execute("UPDATE door_openings SET outcome = ? WHERE id = ?", (outcome, opening_id))


@dataclass(frozen=True, slots=True)
class Opening:
    """A `door_openings` row as supervision reads it."""

    opening_id: int
    door: int
    order_id: str | None
    purpose: str
    result: str | None
    finished_at: float | None
    outcome: str | None = None


def _opening(row: sqlite3.Row) -> Opening:
    return Opening(
        opening_id=int(row["id"]),
        door=int(row["door"]),
        order_id=row["order_id"],
        purpose=str(row["purpose"]),
        result=row["result"],
        finished_at=row["finished_at"],
        outcome=row["outcome"],
    )


def get_opening(conn: sqlite3.Connection, opening_id: int) -> Opening | None:
    """The opening `opening_id`, or None."""
    row = conn.execute("SELECT * FROM door_openings WHERE id = ?", (opening_id,)).fetchone()
    return None if row is None else _opening(row)


def unconcluded_openings(conn: sqlite3.Connection) -> list[Opening]:
    """Openings supervision has not concluded yet (no outcome), oldest first."""
    rows = conn.execute("SELECT * FROM door_openings WHERE outcome IS NULL ORDER BY id").fetchall()
    return [_opening(r) for r in rows]


def conclude_opening(conn: sqlite3.Connection, opening_id: int, outcome: str) -> None:
    """Set the outcome of an opening that has none yet (a concluded one is left alone)."""
    conn.execute(
        "UPDATE door_openings SET outcome = ? WHERE id = ? AND outcome IS NULL",
        (outcome, opening_id),
    )


def mark_seen_open(conn: sqlite3.Connection, door: int, now: float) -> None:
    """The sensor saw `door` open: conclude its openings that opened or are under way."""
    conn.execute(
        "UPDATE door_openings SET seen_open_at = ?, outcome = 'seen_open' WHERE door = ?"
        " AND outcome IS NULL AND (result IS NULL OR result = ?)",
        (now, door, OpeningResult.OPENED.value),
    )


def latest_commanded_opening(conn: sqlite3.Connection, door: int, since: float) -> Opening | None:
    """The newest opening of `door` requested at or after `since` that opened or is under way."""
    row = conn.execute(
        "SELECT * FROM door_openings WHERE door = ? AND requested_at >= ?"
        " AND (result IS NULL OR result = ?) ORDER BY id DESC LIMIT 1",
        (door, since, OpeningResult.OPENED.value),
    ).fetchone()
    return None if row is None else _opening(row)


@dataclass(frozen=True, slots=True)
class InterruptedOpening:
    """An order a restart left flagged, with the last interrupted opening of its door."""

    order_id: str
    door: int
    opening_id: int
    purpose: str


def interrupted_openings(
    conn: sqlite3.Connection, state: OrderState, attention: str
) -> list[InterruptedOpening]:
    """Orders in `state` flagged `attention` with their latest interrupted opening, by order."""
    rows = conn.execute(
        "SELECT o.order_id, o.door, MAX(d.id) FROM orders o JOIN door_openings d"
        " ON d.order_id = o.order_id AND (d.result = 'interrupted' OR d.outcome = 'interrupted')"
        " WHERE o.state = ? AND o.needs_attention = ? GROUP BY o.order_id ORDER BY o.order_id",
        (state.value, attention),
    ).fetchall()
    out = []
    for order_id, door, opening_id in rows:
        (purpose,) = conn.execute(
            "SELECT purpose FROM door_openings WHERE id = ?", (opening_id,)
        ).fetchone()
        out.append(InterruptedOpening(str(order_id), int(door), int(opening_id), str(purpose)))
    return out
