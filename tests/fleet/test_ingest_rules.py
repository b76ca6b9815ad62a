"""The ingest rules on real PostgreSQL: order, duplicates, gaps and a sequence going backwards."""

from __future__ import annotations

from collections.abc import AsyncIterator

import asyncpg
import pytest

from hub_sync.hub.db import migrate, migrations
from hub_sync.hub.ingest import apply_events
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


async def test_a_base_above_what_the_hub_stored_raises_gap_and_continues_from_base(
    conn: asyncpg.Connection,
) -> None:
    await apply_events(conn, [batch("d1", range(1, 6))], 5.0)
    jumped = await apply_events(conn, [batch("d1", range(41, 43), base=40)], 6.0)
    assert jumped.through == {(F, "d1"): 42}
    assert await alarms(conn) == [("d1", "GAP")]
