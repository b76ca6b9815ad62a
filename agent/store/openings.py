"""How a door opening ended, recorded as one step of the caller's unit of work.

A door that failed to open leaves service (staff clear the fault, `Door.faulted`) and the hold
clocks of the parcels inside stop, in the same transaction that records the failure, so a broken
door never uses up a customer's pickup time. Sync, on the transaction's `sqlite3.Connection`.
"""

from __future__ import annotations

import sqlite3

from agent.domain.doors import OpeningResult
from agent.store import journal
from agent.store.doors import finish_opening, get_door, save_door
from agent.store.holds import pause_door_holds


def door_fault(
    conn: sqlite3.Connection, door: int, fault: str, now: float, *, opening_id: int | None
) -> None:
    """In a transaction: a door failed to open. It leaves service (staff clear the fault) and
    the hold clocks of parcels inside stop."""
    if opening_id is not None:
        finish_opening(conn, opening_id, OpeningResult.FAILED, now)
    known = get_door(conn, door)
    if known is not None:
        save_door(conn, known.faulted(fault, now))
    pause_door_holds(conn, door, now)
    journal.record(conn, "door.open_failed", {"door": door, "fault": fault}, now=now, door=door)


def door_opened(conn: sqlite3.Connection, opening_id: int, door: int, now: float) -> None:
    """A door opening succeeded: record it (in the caller's transaction)."""
    finish_opening(conn, opening_id, OpeningResult.OPENED, now)
    journal.append_audit(conn, "door.opened", now=now, door=door)
