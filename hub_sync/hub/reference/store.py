"""The reference hub's fleet state in SQLite: events deduplicated by (device, seq), commands.

Synchronous by design: the hub calls it through `asyncio.to_thread`, a whole batch of messages per
call, so one thread hop and one transaction cover many devices' events.
"""

from __future__ import annotations

import json
import logging
import sqlite3
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from hub_sync.adapters.sqlite_file import LockedSqlite
from hub_sync.protocol.strict_json import canonical_json
from hub_sync.protocol.wire import EventBatch, Reply

_LOG = logging.getLogger(__name__)

_DDL: Final = """
CREATE TABLE IF NOT EXISTS devices (
    fleet TEXT NOT NULL, device TEXT NOT NULL,
    through_seq INTEGER NOT NULL DEFAULT 0,
    applied INTEGER NOT NULL DEFAULT 0,
    duplicates INTEGER NOT NULL DEFAULT 0,
    gaps INTEGER NOT NULL DEFAULT 0,
    online INTEGER NOT NULL DEFAULT 0,
    alarm TEXT,
    status_at REAL,
    state TEXT,
    PRIMARY KEY (fleet, device)
);
CREATE TABLE IF NOT EXISTS events (
    fleet TEXT NOT NULL, device TEXT NOT NULL, seq INTEGER NOT NULL,
    kind TEXT NOT NULL, transaction_id TEXT NOT NULL, body TEXT NOT NULL,
    created_at REAL NOT NULL, received_at REAL NOT NULL,
    PRIMARY KEY (fleet, device, seq)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS commands (
    message_id TEXT PRIMARY KEY,
    fleet TEXT NOT NULL, device TEXT NOT NULL,
    transaction_id TEXT NOT NULL, name TEXT NOT NULL, payload BLOB NOT NULL,
    status TEXT NOT NULL DEFAULT 'pending', reason TEXT, result TEXT,
    created_at REAL NOT NULL, sent_at REAL, replied_at REAL, attempts INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS commands_pending ON commands (status, device);
"""


@dataclass(frozen=True, slots=True)
class DeviceRow:
    fleet: str
    device: str
    through_seq: int
    applied: int
    duplicates: int
    gaps: int
    online: bool
    alarm: str | None


@dataclass(frozen=True, slots=True)
class Applied:
    through: dict[tuple[str, str], int]
    applied: int
    duplicates: int


@dataclass(frozen=True, slots=True)
class PendingCommand:
    message_id: str
    device: str
    payload: bytes


class HubStore(LockedSqlite):
    """One SQLite file (WAL). Thread-safe through one lock; every method is one transaction."""

    def __init__(self, path: Path) -> None:
        super().__init__(path, _DDL)

    def apply_events(self, batches: Sequence[EventBatch], now: float) -> Applied:
        """Store new events in seq order; each device's highest contiguous seq and the counts."""
        return self._tx(lambda db: _apply(db, batches, now))

    def set_status(
        self, fleet: str, device: str, online: bool, alarm: str | None, now: float
    ) -> None:
        self._tx(lambda db: _ensure(db, fleet, device).execute(
            "UPDATE devices SET online=?, alarm=?, status_at=? WHERE fleet=? AND device=?",
            (int(online), alarm, now, fleet, device),
        ))  # fmt: skip

    def set_state(self, fleet: str, device: str, state: str) -> None:
        self._tx(lambda db: _ensure(db, fleet, device).execute(
            "UPDATE devices SET state=? WHERE fleet=? AND device=?", (state, fleet, device)
        ))  # fmt: skip

    def add_command(
        self, *, message_id: str, fleet: str, device: str, transaction_id: str, name: str,
        payload: bytes, now: float,
    ) -> None:  # fmt: skip
        self._tx(lambda db: db.execute(
            "INSERT INTO commands (message_id, fleet, device, transaction_id, name, payload,"
            " created_at) VALUES (?,?,?,?,?,?,?)",
            (message_id, fleet, device, transaction_id, name, payload, now),
        ))  # fmt: skip

    def mark_sent(self, message_ids: Iterable[str], now: float) -> None:
        rows = [(now, m) for m in message_ids]
        self._tx(lambda db: db.executemany(
            "UPDATE commands SET sent_at=?, attempts=attempts+1 WHERE message_id=?", rows
        ))  # fmt: skip

    def record_replies(self, replies: Sequence[Reply], now: float) -> None:
        rows = [
            ("ok" if r.ok else "nack", r.reason, canonical_json(dict(r.result)).decode(), now,
             r.command_message_id, r.header.device)
            for r in replies
        ]  # fmt: skip
        self._tx(lambda db: db.executemany(
            "UPDATE commands SET status=?, reason=?, result=?, replied_at=?"
            " WHERE message_id=? AND device=? AND status='pending'",
            rows,
        ))  # fmt: skip

    def pending_commands(
        self,
        fleet: str,
        *,
        device: str | None = None,
        online_only: bool = False,
        sent_before: float | None = None,
    ) -> list[PendingCommand]:
        """Unanswered commands, oldest first."""
        sql = (
            "SELECT c.message_id, c.device, c.payload FROM commands c LEFT JOIN devices d"
            " ON d.fleet=c.fleet AND d.device=c.device WHERE c.status='pending' AND c.fleet=?"
        )
        params: list[object] = [fleet]
        if device is not None:
            sql += " AND c.device=?"
            params.append(device)
        if online_only:
            sql += " AND d.online=1"
        if sent_before is not None:
            sql += " AND (c.sent_at IS NULL OR c.sent_at < ?)"
            params.append(sent_before)
        with self._lock:
            rows = self._db.execute(sql + " ORDER BY c.created_at", params).fetchall()
        return [PendingCommand(r[0], r[1], bytes(r[2])) for r in rows]

    def command(self, message_id: str) -> tuple[str, str | None, dict[str, object]] | None:
        """(status, reason, result) of one command."""
        with self._lock:
            row = self._db.execute(
                "SELECT status, reason, result FROM commands WHERE message_id=?", (message_id,)
            ).fetchone()
        if row is None:
            return None
        return row[0], row[1], json.loads(row[2]) if row[2] else {}

    def devices(self, fleet: str) -> list[DeviceRow]:
        with self._lock:
            rows = self._db.execute(
                "SELECT fleet, device, through_seq, applied, duplicates, gaps, online, alarm"
                " FROM devices WHERE fleet=? ORDER BY device",
                (fleet,),
            ).fetchall()
        return [DeviceRow(r[0], r[1], r[2], r[3], r[4], r[5], bool(r[6]), r[7]) for r in rows]

    def event_seqs(self, fleet: str, device: str) -> list[int]:
        with self._lock:
            rows = self._db.execute(
                "SELECT seq FROM events WHERE fleet=? AND device=? ORDER BY seq", (fleet, device)
            ).fetchall()
        return [r[0] for r in rows]


def _ensure(db: sqlite3.Connection, fleet: str, device: str) -> sqlite3.Connection:
    db.execute("INSERT OR IGNORE INTO devices (fleet, device) VALUES (?, ?)", (fleet, device))
    return db


def _apply(db: sqlite3.Connection, batches: Sequence[EventBatch], now: float) -> Applied:
    through: dict[tuple[str, str], int] = {}
    counts: dict[tuple[str, str], list[int]] = {}
    rows: list[tuple[object, ...]] = []
    for batch in batches:
        key = (batch.header.fleet, batch.header.device)
        if key not in through:
            _ensure(db, *key)
            row = db.execute(
                "SELECT through_seq, applied FROM devices WHERE fleet=? AND device=?", key
            ).fetchone()
            # a device the hub has never heard from starts where the device says it is
            through[key] = row[0] if row[1] or row[0] else batch.base
            counts[key] = [0, 0, 0]
        if batch.base > through[key]:
            # the device deleted events we never stored (hub restored from a backup): move on
            _LOG.error("gap for %s/%s: %d..%d lost", *key, through[key] + 1, batch.base)
            counts[key][2] += 1
            through[key] = batch.base
        for ev in batch.events:
            if ev.seq <= through[key]:
                counts[key][1] += 1
            elif ev.seq == through[key] + 1:
                body = canonical_json(dict(ev.body)).decode()
                rows.append((*key, ev.seq, ev.kind, ev.transaction_id, body, ev.created_at, now))
                through[key] = ev.seq
                counts[key][0] += 1
            else:
                break  # ahead of a gap: wait for the device to resend in order
    db.executemany("INSERT INTO events VALUES (?,?,?,?,?,?,?,?)", rows)
    db.executemany(
        "UPDATE devices SET through_seq=?, applied=applied+?, duplicates=duplicates+?,"
        " gaps=gaps+? WHERE fleet=? AND device=?",
        [(through[k], *counts[k], *k) for k in through],
    )
    return Applied(
        through=through,
        applied=sum(c[0] for c in counts.values()),
        duplicates=sum(c[1] for c in counts.values()),
    )
