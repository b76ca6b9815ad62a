"""The database thread and the repositories, on a real SQLite file."""

import sqlite3
import threading
from pathlib import Path

import pytest

from agent.domain.doors import DoorSize
from agent.domain.loads import LoadEvent, LoadState
from agent.domain.orders import HoldClock, Order, OrderState
from agent.domain.returns import ReturnState
from agent.errors import StoreError
from agent.store import inbox, journal, loads, outbox, returns
from agent.store.db import Database
from agent.store.doors import ensure_doors, get_door, list_doors, save_door
from agent.store.orders import insert_order

T0 = 1_800_000_000.0


async def _open(tmp_path: Path) -> Database:
    database = Database(tmp_path / "agent.db")
    await database.open()
    await database.run(
        ensure_doors, [(1, DoorSize.S, False), (2, DoorSize.M, False), (3, DoorSize.L, True)]
    )
    return database


async def _occupied(database: Database, number: int) -> bool:
    door = await database.read(get_door, number)
    assert door is not None
    return door.occupied


async def test_every_transaction_runs_on_one_database_thread(tmp_path: Path) -> None:
    database = await _open(tmp_path)

    def thread_of(conn: sqlite3.Connection, tag: str, *, times: int) -> tuple[str, int]:
        return tag * times, threading.get_ident()

    seen = {await database.run(thread_of, "w", times=2) for _ in range(5)}
    seen |= {await database.read(thread_of, "w", times=2) for _ in range(5)}
    await database.close()
    assert len(seen) == 1
    ((tag, ident),) = seen
    assert tag == "ww"
    assert ident != threading.get_ident()


async def test_a_closed_database_refuses_work(tmp_path: Path) -> None:
    database = await _open(tmp_path)
    await database.close()
    with pytest.raises(StoreError):
        await database.read(journal.get_setting, "a")
    await database.close()  # twice is harmless


async def test_a_door_fault_is_stored_and_cleared(tmp_path: Path) -> None:
    database = await _open(tmp_path)

    def fault(conn: sqlite3.Connection) -> None:
        door = get_door(conn, 2)
        assert door is not None
        save_door(conn, door.faulted("jammed", T0))

    await database.run(fault)
    door = await database.read(get_door, 2)
    assert door is not None
    assert (door.fault, door.fault_since, door.assignable) == ("jammed", T0, False)
    await database.run(lambda conn: save_door(conn, door.fault_cleared()))
    assert [d.fault for d in await database.read(list_doors)] == [None, None, None]
    assert await database.read(get_door, 9) is None
    await database.close()


async def test_a_pending_load_occupies_its_door_until_it_ends(tmp_path: Path) -> None:
    database = await _open(tmp_path)
    order = Order("ORD-1", OrderState.ANNOUNCED, "S", None, HoldClock(hold_s=60.0))

    def start(conn: sqlite3.Connection) -> int:
        insert_order(conn, order, code_key=None, now=T0)
        return loads.add_pending(conn, "ORD-1", "P1", 1, actor="c", now=T0)

    load_id = await database.run(start)
    assert await _occupied(database, 1)
    assert await database.read(loads.parcel_is_live, "ORD-1", "P1")
    assert await database.read(loads.pending_door_of_order, "ORD-1") == 1
    load = await database.read(loads.get, load_id)
    assert load is not None
    await database.run(loads.save, load.apply(LoadEvent.CANCEL, T0 + 5))
    ended = await database.read(loads.get, load_id)
    assert ended is not None
    assert (ended.state, ended.finished_at) == (LoadState.CANCELLED, T0 + 5)
    assert not await _occupied(database, 1)
    assert await database.read(loads.all_pending) == []
    await database.close()


async def test_an_announced_return_is_found_by_its_code_and_moves_once(tmp_path: Path) -> None:
    database = await _open(tmp_path)
    await database.run(returns.expect, "RET-1", DoorSize.M, "key-1", T0)
    found = await database.read(returns.find_by_code_key, ("key-old", "key-1"))
    assert found is not None
    assert (found.order_ref, found.size, found.state) == ("RET-1", DoorSize.M, ReturnState.EXPECTED)
    moved = await database.run(
        returns.move_if, "RET-1", ReturnState.EXPECTED, ReturnState.DROPPED_OFF, T0 + 1
    )
    again = await database.run(
        returns.move_if, "RET-1", ReturnState.EXPECTED, ReturnState.DROPPED_OFF, T0 + 2
    )
    assert (moved, again) == (True, False)
    # an announcement again does not touch a return already handed in
    await database.run(returns.expect, "RET-1", DoorSize.L, "key-2", T0 + 3)
    kept = await database.read(returns.get, "RET-1")
    assert kept is not None
    assert (kept.size, kept.state) == (DoorSize.M, ReturnState.DROPPED_OFF)
    await database.close()


async def test_the_outbox_is_read_in_order_and_confirmed(tmp_path: Path) -> None:
    database = await _open(tmp_path)
    for n in range(3):
        await database.run(journal.record, "test.event", {"n": n}, now=T0 + n)
    depth, oldest = await database.read(outbox.depth_and_oldest)
    rows = await database.read(outbox.pending, 0, 2)
    assert [r.body["n"] for r in rows] == [0, 1]
    assert depth >= 3
    assert oldest is not None
    await database.run(outbox.confirm_through, rows[-1].seq)
    left = await database.read(outbox.pending, 0, 10)
    assert [r.body.get("n") for r in left if r.kind == "test.event"] == [2]
    await database.close()


async def test_an_inbox_entry_is_claimed_then_settled(tmp_path: Path) -> None:
    database = await _open(tmp_path)
    assert await database.read(inbox.find, "tx-1") is None
    await database.run(inbox.claim, "tx-1", "extend_hold", "digest", T0)
    claimed = await database.read(inbox.find, "tx-1")
    assert claimed == inbox.InboxEntry(inbox.APPLYING, "extend_hold", "digest")
    await database.run(inbox.settle, "tx-1", '{"ok":true}', T0 + 1)
    settled = await database.read(inbox.find, "tx-1")
    assert settled is not None
    assert settled.result == '{"ok":true}'
    await database.close()
