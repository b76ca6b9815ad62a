"""The inbox repository: one row per hub command transaction, so a command runs at most once.

A row is claimed (`APPLYING`) in the transaction that starts applying the command and settled
with its result after; a row still `APPLYING` at the next delivery means the agent stopped
half-way. Sync functions on a `sqlite3.Connection`, called inside `Database.run`.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass

APPLYING = "applying"


@dataclass(frozen=True, slots=True)
class InboxEntry:
    """A stored hub command transaction."""

    result: str  # the stored result as canonical JSON, or APPLYING
    kind: str  # the command name the transaction id was first used for
    args_digest: str | None  # None for rows older than schema 4


def find(conn: sqlite3.Connection, transaction_id: str) -> InboxEntry | None:
    """The stored entry for this transaction id, if any."""
    row = conn.execute(
        "SELECT result, kind, args_digest FROM inbox WHERE transaction_id = ?",
        (transaction_id,),
    ).fetchone()
    return None if row is None else InboxEntry(str(row[0]), str(row[1]), row[2])


def claim(
    conn: sqlite3.Connection, transaction_id: str, kind: str, args_digest: str, now: float
) -> None:
    """Bind `transaction_id` to this command and mark it being applied."""
    conn.execute(
        "INSERT INTO inbox (transaction_id, kind, args_digest, result, applied_at)"
        " VALUES (?, ?, ?, ?, ?)",
        (transaction_id, kind, args_digest, APPLYING, now),
    )


def settle(conn: sqlite3.Connection, transaction_id: str, result_json: str, now: float) -> None:
    """Store the command's result (canonical JSON) for a re-delivery to be answered from."""
    conn.execute(
        "UPDATE inbox SET result = ?, applied_at = ? WHERE transaction_id = ?",
        (result_json, now, transaction_id),
    )
