"""The repositories that took the services' last SQL: door openings as supervision reads
them, the KPI rows and counters, and the attempt budgets, on a real SQLite file."""

import sqlite3
from pathlib import Path

import pytest

from agent.domain.attempts import AttemptPolicy, AttemptState
from agent.domain.doors import DoorSize, OpeningResult
from agent.domain.orders import HoldClock, Order, OrderState
from agent.errors import UnknownDoor
from agent.store import attempts, journal, kpis
from agent.store.db import Database
from agent.store.doors import (
    begin_opening,
    conclude_opening,
    ensure_doors,
    finish_opening,
    get_opening,
    interrupted_openings,
    latest_commanded_opening,
    mark_seen_open,
    require_door,
    set_opening_outcome,
    unconcluded_openings,
)
from agent.store.orders import insert_order

T0 = 1_800_000_000.0


async def _open(tmp_path: Path) -> Database:
    database = Database(tmp_path / "agent.db")
    await database.open()
    await database.run(ensure_doors, [(1, DoorSize.S, False), (2, DoorSize.M, False)])
    return database


async def test_openings_are_concluded_once_and_found_by_door(tmp_path: Path) -> None:
    database = await _open(tmp_path)

    def openings(conn: sqlite3.Connection) -> tuple[int, int, int]:
        a = begin_opening(conn, 1, order_id=None, purpose="staff", now=T0)
        finish_opening(conn, a, OpeningResult.OPENED, T0 + 1)
        b = begin_opening(conn, 1, order_id=None, purpose="staff", now=T0 + 2)
        finish_opening(conn, b, OpeningResult.FAILED, T0 + 3)
        c = begin_opening(conn, 2, order_id=None, purpose="staff", now=T0 + 4)
        return a, b, c

    a, b, c = await database.run(openings)
    pending = await database.read(unconcluded_openings)
    assert [(o.opening_id, o.door, o.result) for o in pending] == [
        (a, 1, "opened"),
        (b, 1, "failed"),
        (c, 2, None),
    ]
    # the newest opening of door 1 that opened (the failed one does not count), in the window
    latest = await database.read(latest_commanded_opening, 1, T0)
    assert latest is not None
    assert latest.opening_id == a
    assert await database.read(latest_commanded_opening, 1, T0 + 0.5) is None

    await database.run(mark_seen_open, 1, T0 + 5)  # concludes a (opened), not b (failed)
    await database.run(conclude_opening, a, "jammed")  # already concluded: left alone
    await database.run(conclude_opening, b, "not_opened")
    await database.run(set_opening_outcome, c, "jammed")
    outcomes = [await database.read(get_opening, n) for n in (a, b, c)]
    assert [o.outcome if o else None for o in outcomes] == ["seen_open", "not_opened", "jammed"]
    assert await database.read(unconcluded_openings) == []
    assert await database.read(get_opening, 999) is None
    await database.close()


async def test_an_interrupted_opening_is_found_with_its_flagged_order(tmp_path: Path) -> None:
    database = await _open(tmp_path)
    order = Order(
        "ORD-1", OrderState.COLLECTED, "S", 2, HoldClock(hold_s=60.0), needs_attention="flag"
    )

    def setup(conn: sqlite3.Connection) -> int:
        insert_order(conn, order, code_key=None, now=T0)
        first = begin_opening(conn, 2, order_id="ORD-1", purpose="pickup", now=T0)
        finish_opening(conn, first, OpeningResult.INTERRUPTED, T0 + 1)
        second = begin_opening(conn, 2, order_id="ORD-1", purpose="collect", now=T0 + 2)
        set_opening_outcome(conn, second, "interrupted")
        return second

    second = await database.run(setup)
    found = await database.read(interrupted_openings, OrderState.COLLECTED, "flag")
    assert [(f.order_id, f.door, f.opening_id, f.purpose) for f in found] == [
        ("ORD-1", 2, second, "collect")
    ]
    assert await database.read(interrupted_openings, OrderState.COLLECTED, "other") == []
    assert await database.read(interrupted_openings, OrderState.LOADED, "flag") == []
    await database.close()


async def test_require_door_refuses_an_unknown_door(tmp_path: Path) -> None:
    database = await _open(tmp_path)
    assert (await database.read(require_door, 2)).number == 2
    with pytest.raises(UnknownDoor) as caught:
        await database.read(require_door, 9)
    assert caught.value.reason.value == "DOOR_UNKNOWN"
    await database.close()


async def test_kpi_rows_carry_the_promised_hold_and_counters_add_up(tmp_path: Path) -> None:
    database = await _open(tmp_path)
    order = Order("ORD-1", OrderState.LOADED, "S", 1, HoldClock(hold_s=60.0, paused_s=5.0))

    def setup(conn: sqlite3.Connection) -> None:
        insert_order(conn, order, code_key=None, now=T0)
        journal.append_audit(conn, "order.loaded", now=T0, order_id="ORD-1")
        journal.append_audit(conn, "door.opened", now=T0 + 1, door=1)  # not a KPI action
        journal.append_audit(conn, "order.collected", now=T0 + 2, order_id="ORD-1")
        kpis.bump_counter(conn, "failed", "typed_code:CODE_UNKNOWN")
        kpis.bump_counter(conn, "failed", "typed_code:CODE_UNKNOWN", by=2)
        kpis.bump_counter(conn, "other", "x")

    await database.run(setup)
    rows = await database.read(kpis.kpi_rows_after, 0)
    assert [(r.seq, r.action, r.order_id, r.promised_hold_s) for r in rows] == [
        (1, "order.loaded", "ORD-1", 65.0),
        (3, "order.collected", "ORD-1", 65.0),
    ]
    assert [r.seq for r in await database.read(kpis.kpi_rows_after, 1)] == [3]
    assert await database.read(kpis.counter_values, "failed") == {"typed_code:CODE_UNKNOWN": 3}
    assert await database.read(kpis.counter_values, "none") == {}
    await database.close()


async def test_a_budget_round_trips_and_an_undone_attempt_leaves_it_spent(tmp_path: Path) -> None:
    database = await _open(tmp_path)
    policy = AttemptPolicy()
    assert await database.read(attempts.load_budget, policy, T0, "s") == AttemptState.full(
        policy, T0
    )

    def attempt(conn: sqlite3.Connection) -> None:
        attempts.save_budget(conn, AttemptState(2.0, 50.0, T0), "s")
        attempts.begin_attempt(conn)
        attempts.save_budget(conn, AttemptState(0.0, 0.0, T0), "s")
        kpis.bump_counter(conn, "c", "undone")
        attempts.undo_attempt(conn)
        attempts.begin_attempt(conn)
        kpis.bump_counter(conn, "c", "kept")
        attempts.keep_attempt(conn)

    await database.run(attempt)
    assert await database.read(attempts.load_budget, policy, T0 + 9, "s") == AttemptState(
        2.0, 50.0, T0
    )
    assert await database.read(kpis.counter_values, "c") == {"kept": 1}
    await database.close()
