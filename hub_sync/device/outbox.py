"""The reference device: outbox, command sink and state over its own SQLite file (WAL).

It is what the tests, the fleet simulator and `hub_sync.device.sim` run, and an example of the
contract the agent's store implements. Each call is one short transaction in a worker thread
(`asyncio.to_thread`) so the event loop never waits on the disk, and a thousand simulated devices
do not need a thousand threads.
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Final

from hub_sync.adapters.sqlite_file import LockedSqlite
from hub_sync.protocol.commands import (
    TRANSACTION_REUSED,
    Command,
    CommandResult,
    OrderUpsert,
    RemoteOpen,
)
from hub_sync.protocol.strict_json import canonical_json
from hub_sync.protocol.wire import OutboxEvent, OutboxStats

OUTBOX_DDL: Final = """
CREATE TABLE IF NOT EXISTS outbox (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,  -- per-device sequence; committed rows are gapless
    kind TEXT NOT NULL,                     -- e.g. "order.collected", "door.alarm"
    transaction_id TEXT NOT NULL,           -- business idempotency key
    body TEXT NOT NULL,                     -- JSON object, no personal data
    created_at REAL NOT NULL                -- device wall time (unix seconds)
);
"""

_DEVICE_DDL: Final = """
CREATE TABLE IF NOT EXISTS command_results (
    transaction_id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    args_digest TEXT NOT NULL,              -- what the transaction id was first used for
    ok INTEGER NOT NULL,
    reason TEXT,
    data TEXT NOT NULL,
    applied_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS orders (order_id TEXT PRIMARY KEY, terms TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS door_opens (transaction_id TEXT PRIMARY KEY, door INTEGER NOT NULL);
"""

DoorCallback = Callable[[int], None]


class ReferenceDevice(LockedSqlite):
    """`OutboxSource`, `CommandSink` and `DeviceState` of a simulated locker in one SQLite file."""

    def __init__(
        self,
        path: Path,
        *,
        clock: Callable[[], float] = time.time,
        on_door_open: DoorCallback | None = None,
        doors: int = 12,
    ) -> None:
        self._clock = clock
        self._on_door_open = on_door_open
        self._doors = doors
        super().__init__(path, OUTBOX_DDL + _DEVICE_DDL)

    def append_sync(self, events: Sequence[tuple[str, str, Mapping[str, object]]]) -> int:
        """Commit (kind, transaction_id, body) rows in one transaction; returns the last seq."""
        now = self._clock()
        rows = [(k, tx, canonical_json(dict(b)).decode(), now) for k, tx, b in events]

        def write(db: sqlite3.Connection) -> int:
            db.executemany(
                "INSERT INTO outbox (kind, transaction_id, body, created_at) VALUES (?,?,?,?)",
                rows,
            )
            last = db.execute("SELECT seq FROM sqlite_sequence WHERE name='outbox'").fetchone()
            return int(last[0]) if last else 0

        return self._tx(write)

    async def append(self, events: Sequence[tuple[str, str, Mapping[str, object]]]) -> int:
        return await asyncio.to_thread(self.append_sync, events)

    # OutboxSource

    async def pending(self, after_seq: int, limit: int) -> Sequence[OutboxEvent]:
        return await asyncio.to_thread(self._pending, after_seq, limit)

    def _pending(self, after_seq: int, limit: int) -> list[OutboxEvent]:
        with self._lock:
            rows = self._db.execute(
                "SELECT seq, kind, transaction_id, body, created_at FROM outbox"
                " WHERE seq > ? ORDER BY seq LIMIT ?",
                (after_seq, limit),
            ).fetchall()
        return [OutboxEvent(r[0], r[1], r[2], json.loads(r[3]), r[4]) for r in rows]

    async def confirm_through(self, seq: int) -> None:
        await asyncio.to_thread(
            self._tx, lambda db: db.execute("DELETE FROM outbox WHERE seq <= ?", (seq,))
        )

    async def stats(self) -> OutboxStats:
        return await asyncio.to_thread(self._stats)

    def _stats(self) -> OutboxStats:
        with self._lock:
            depth, oldest = self._db.execute(
                "SELECT count(*), min(created_at) FROM outbox"
            ).fetchone()
        return OutboxStats(depth=int(depth), oldest_created_at=oldest)

    # CommandSink

    async def apply(self, command: Command) -> CommandResult:
        outcome, opened = await asyncio.to_thread(self._tx, lambda db: self._apply(db, command))
        if opened is not None and self._on_door_open is not None:
            self._on_door_open(opened)
        return outcome

    def _apply(self, db: sqlite3.Connection, cmd: Command) -> tuple[CommandResult, int | None]:
        """Idempotent by transaction_id: the stored result is returned for a repeat of the same
        command; the same id with another name or other args is refused (`TRANSACTION_REUSED`)."""
        row = db.execute(
            "SELECT ok, reason, data, args_digest FROM command_results WHERE transaction_id = ?",
            (cmd.transaction_id,),
        ).fetchone()
        if row is not None:
            if row[3] != cmd.args_digest:
                return CommandResult(ok=False, reason=TRANSACTION_REUSED), None
            return CommandResult(ok=bool(row[0]), reason=row[1], data=json.loads(row[2])), None
        result, opened = self._effect(db, cmd)
        db.execute(
            "INSERT INTO command_results VALUES (?,?,?,?,?,?,?)",
            (cmd.transaction_id, cmd.name, cmd.args_digest, int(result.ok), result.reason,
             canonical_json(dict(result.data)).decode(), self._clock()),
        )  # fmt: skip
        db.execute(
            "INSERT INTO outbox (kind, transaction_id, body, created_at) VALUES (?,?,?,?)",
            ("command.applied", cmd.transaction_id,
             canonical_json({"name": cmd.name, "ok": result.ok}).decode(), self._clock()),
        )  # fmt: skip
        return result, opened

    def _effect(self, db: sqlite3.Connection, cmd: Command) -> tuple[CommandResult, int | None]:
        args = cmd.args
        if isinstance(args, RemoteOpen):
            if args.door > self._doors:
                return CommandResult(ok=False, reason="DOOR_UNKNOWN"), None
            db.execute("INSERT INTO door_opens VALUES (?, ?)", (cmd.transaction_id, args.door))
            return CommandResult(ok=True, data={"door": args.door}), args.door
        if isinstance(args, OrderUpsert):
            terms = canonical_json({"size": args.size, "hold_s": args.hold_s}).decode()
            db.execute("INSERT OR REPLACE INTO orders VALUES (?, ?)", (args.order_id, terms))
        return CommandResult(ok=True), None

    def door_opens(self) -> list[tuple[str, int]]:
        with self._lock:
            return [(r[0], r[1]) for r in self._db.execute("SELECT * FROM door_opens")]

    def order_ids(self) -> list[str]:
        with self._lock:
            return [r[0] for r in self._db.execute("SELECT order_id FROM orders ORDER BY 1")]

    # DeviceState

    async def snapshot(self) -> Mapping[str, object]:
        now = self._clock()
        return {
            "doors": {str(d): "closed" for d in range(1, self._doors + 1)},
            "health": {"status": "ok"},
            "versions": {"agent": "reference", "schema": 1},
            "clock": now,
            "time_floor": None,
        }
