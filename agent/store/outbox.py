"""The outbox repository: events written with the change they describe, read and confirmed by
the hub sync (rows are appended by `journal.record`, in the same transaction as the change).

Sync functions on a `sqlite3.Connection`, called inside `Database.run` / `Database.read`.
"""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class OutboxRow:
    """One event waiting for the hub."""

    seq: int
    kind: str
    transaction_id: str
    body: dict[str, object]
    created_at: float


def pending(conn: sqlite3.Connection, after_seq: int, limit: int) -> list[OutboxRow]:
    """Up to `limit` events after `after_seq`, oldest first."""
    rows = conn.execute(
        "SELECT seq, kind, transaction_id, body, created_at FROM outbox"
        " WHERE seq > ? ORDER BY seq LIMIT ?",
        (after_seq, limit),
    ).fetchall()
    return [OutboxRow(int(r[0]), str(r[1]), str(r[2]), json.loads(r[3]), float(r[4])) for r in rows]


def confirm_through(conn: sqlite3.Connection, seq: int) -> None:
    """The hub has stored every event up to `seq`: they leave the outbox."""
    conn.execute("DELETE FROM outbox WHERE seq <= ?", (seq,))


def depth_and_oldest(conn: sqlite3.Connection) -> tuple[int, float | None]:
    """How many events wait for the hub, and when the oldest was written."""
    depth, oldest = conn.execute("SELECT COUNT(*), MIN(created_at) FROM outbox").fetchone()
    return int(depth), (None if oldest is None else float(oldest))
