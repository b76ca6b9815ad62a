"""The ingest rules on real PostgreSQL: order, duplicates, gaps and a sequence going backwards."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path

import asyncpg
import pytest

from hub_sync.device.outbox import ReferenceDevice
from hub_sync.hub.db import migrate, migrations
from hub_sync.hub.ingest import Applied, apply_events
from hub_sync.protocol.wire import EventBatch, Header, OutboxEvent, new_message_id

F = "f1"


def batch(device: str, seqs: range, *, base: int = 0, tag: str = "") -> EventBatch:
    header = Header("events", new_message_id(), F, device, 1.0)
    events = tuple(
        OutboxEvent(s, "sim.event", f"tx-{s}{tag}", {"i": s, "tag": tag}, 100.0 + s) for s in seqs
    )
    return EventBatch(header, base, events)


@pytest.fixture
async def conn(dsn: str) -> AsyncIterator[asyncpg.Connection]:
    c = await asyncpg.connect(dsn)
    try:
        yield c
    finally:
        await c.close()


async def alarms(conn: asyncpg.Connection) -> list[tuple[str, str]]:
    rows = await conn.fetch("SELECT device, kind FROM alarms ORDER BY id")
    return [(r["device"], r["kind"]) for r in rows]


async def test_migrations_are_numbered_and_applied_once(conn: asyncpg.Connection) -> None:
    numbers = [n for n, _name, _sql in migrations()]
    assert numbers == sorted(set(numbers))
    assert numbers[0] == 1
    assert await migrate(conn) == []  # the fixture applied them all already
    applied = await conn.fetch("SELECT version FROM schema_migrations ORDER BY version")
    assert [r["version"] for r in applied] == numbers


async def test_out_of_order_messages_are_stored_and_through_advances_when_the_gap_fills(
    conn: asyncpg.Connection,
) -> None:
    later = await apply_events(conn, [batch("d1", range(101, 201))], 5.0)
    assert (later.stored, later.through) == (100, {(F, "d1"): 0})  # stored ahead, not confirmed
    first = await apply_events(conn, [batch("d1", range(1, 101))], 6.0)
    assert (first.stored, first.through) == (100, {(F, "d1"): 200})
    assert await conn.fetchval("SELECT count(*) FROM events") == 200
    assert await alarms(conn) == []


async def test_identical_redelivery_is_counted_not_stored_not_alarmed(
    conn: asyncpg.Connection,
) -> None:
    b = batch("d1", range(1, 51))
    await apply_events(conn, [b], 5.0)
    again = await apply_events(conn, [b, batch("d2", range(1, 3))], 6.0)
    assert (again.stored, again.duplicates) == (2, 50)
    assert again.through == {(F, "d1"): 50, (F, "d2"): 2}
    assert await conn.fetchval("SELECT count(*) FROM events WHERE device = 'd1'") == 50
    assert await alarms(conn) == []
    counted = await conn.fetch("SELECT device, duplicates FROM devices ORDER BY device")
    assert [(r["device"], r["duplicates"]) for r in counted] == [("d1", 50), ("d2", 0)]


async def test_a_seq_reused_with_other_content_raises_seq_backwards_and_keeps_the_stored_event(
    conn: asyncpg.Connection,
) -> None:
    await apply_events(conn, [batch("d1", range(1, 11))], 5.0)
    restored = await apply_events(conn, [batch("d1", range(6, 13), tag="restored")], 6.0)
    assert restored.stored == 2  # 11 and 12 are new
    assert await alarms(conn) == [("d1", "SEQ_BACKWARDS")]
    body = await conn.fetchval("SELECT body->>'tag' FROM events WHERE device='d1' AND seq=6")
    assert body == ""  # the first version stays
    await apply_events(conn, [batch("d1", range(7, 9), tag="again")], 7.0)
    assert await alarms(conn) == [("d1", "SEQ_BACKWARDS")]  # one open alarm per kind


async def test_a_forged_event_that_took_a_seq_first_loses_the_lockers_own_event_nowhere(
    conn: asyncpg.Connection,
) -> None:
    """Another version of seq 3 is stored before the locker's own (the storing rule alone: the
    worker refuses an events batch its device did not sign before it gets here, see
    test_forged_events.py): the locker's own seq 3 is kept beside it, and SEQ_BACKWARDS says to
    look."""
    await apply_events(conn, [batch("d1", range(1, 3))], 5.0)
    await apply_events(conn, [batch("d1", range(3, 4), tag="forged")], 5.5)
    own = await apply_events(conn, [batch("d1", range(3, 6))], 6.0)
    assert own.through == {(F, "d1"): 5}
    assert await alarms(conn) == [("d1", "SEQ_BACKWARDS")]
    kept = await conn.fetch("SELECT seq, body->>'tag' AS tag FROM event_conflicts")
    assert [(r["seq"], r["tag"]) for r in kept] == [(3, "")]  # the locker's own version
    await apply_events(conn, [batch("d1", range(3, 4))], 7.0)  # its resend: kept once
    assert await conn.fetchval("SELECT count(*) FROM event_conflicts") == 1


async def test_a_base_above_what_the_hub_stored_raises_gap_and_continues_from_base(
    conn: asyncpg.Connection,
) -> None:
    await apply_events(conn, [batch("d1", range(1, 6))], 5.0)
    jumped = await apply_events(conn, [batch("d1", range(41, 43), base=40)], 6.0)
    assert jumped.through == {(F, "d1"): 42}
    assert await alarms(conn) == [("d1", "GAP")]


async def test_a_locker_restored_from_an_old_copy_of_its_database_raises_seq_backwards(
    conn: asyncpg.Connection, tmp_path: Path
) -> None:
    """The real reference device's SQLite file, copied, used on, then put back (restored)."""
    live = await asyncio.to_thread(ReferenceDevice, tmp_path / "d1.db")
    try:
        await live.append([("sim.event", f"a{i}", {"i": i}) for i in range(5)])
        await asyncio.to_thread(_copy, live, tmp_path / "backup.db")
        await live.append([("sim.event", f"b{i}", {"i": i}) for i in range(3)])
        sent = await _send_all(conn, live, "d1")
        assert (sent.stored, sent.through) == (8, {(F, "d1"): 8})
        await live.confirm_through(8)  # the hub's confirm: the live outbox is empty
    finally:
        await asyncio.to_thread(live.close)
    # seqs 1..5 pending, next seq is 6
    restored = await asyncio.to_thread(ReferenceDevice, tmp_path / "backup.db")
    try:
        await restored.append([("sim.event", "after-restore", {"i": 0})])
        again = await _send_all(conn, restored, "d1")
    finally:
        await asyncio.to_thread(restored.close)
    assert again.stored == 0  # 1..5 are identical duplicates; 6 re-uses a stored seq
    assert await alarms(conn) == [("d1", "SEQ_BACKWARDS")]
    stored6 = await conn.fetchval("SELECT transaction_id FROM events WHERE device='d1' AND seq=6")
    assert stored6 == "b0"  # the first event 6 stays; the restored one is not stored


def _copy(device: ReferenceDevice, to: Path) -> None:
    dest = sqlite3.connect(to)
    try:
        with device._lock:  # SQLite's online backup of the live file
            device._db.backup(dest)
    finally:
        dest.close()


async def _send_all(conn: asyncpg.Connection, device: ReferenceDevice, name: str) -> Applied:
    """What the device's publisher sends: its pending rows after its confirmed seq (0 here)."""
    rows = await device.pending(0, 100)
    header = Header("events", new_message_id(), F, name, 1.0)
    return await apply_events(conn, [EventBatch(header, rows[0].seq - 1, tuple(rows))], 5.0)


async def test_the_same_event_under_a_second_seq_raises_duplicate_event(
    conn: asyncpg.Connection,
) -> None:
    await apply_events(conn, [batch("d1", range(1, 4)), batch("d2", range(1, 3))], 5.0)
    header = Header("events", new_message_id(), F, "d1", 1.0)
    copied = OutboxEvent(4, "sim.event", "tx-2", {"i": 2, "tag": ""}, 102.0)  # seq 2, re-inserted
    again = await apply_events(conn, [EventBatch(header, 3, (copied,))], 6.0)
    assert (again.stored, again.through) == (1, {(F, "d1"): 4})  # stored: the seqs differ
    # d1's tx-3 as d2's seq 3: transaction ids are per locker, no alarm for d2
    h2 = Header("events", new_message_id(), F, "d2", 1.0)
    await apply_events(
        conn, [EventBatch(h2, 2, (OutboxEvent(3, "sim.event", "tx-3", {}, 1),))], 7.0
    )
    assert await alarms(conn) == [("d1", "DUPLICATE_EVENT")]
