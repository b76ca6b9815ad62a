"""A week without the hub: pickups keep working, then every event reaches the hub exactly once."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

from agent.cli.demo import DEMO_ORDERS, SeededOrder, seed_orders
from agent.domain.clock import ManualClock
from provisioning.fleet import DemoFleet
from tests.agent.conftest import RunningAgent
from tests.integration.conftest import (
    Broker,
    audit_rows,
    hub_events,
    outbox_rows,
    start_hub,
    start_hub_agent,
    stop_hub,
    wait_for,
)

DAY_S = 86_400.0
HOLD_S = 3 * DAY_S


def _open_doors(conn: sqlite3.Connection) -> set[int]:
    return {int(r[0]) for r in conn.execute("SELECT number FROM doors WHERE sensor = 'open'")}


async def _collect_a_day(running: RunningAgent, fleet: DemoFleet) -> list[SeededOrder]:
    """A day's parcels are loaded and collected, alternately by typed code and by token; the
    doors are shut once the supervisor has seen them open (so it records a normal pickup)."""
    agent = running.agent
    secret, now = agent.typed_code_secret, running.clock.now()
    orders = await agent.db.run(seed_orders, secret, now=now, hold_s=HOLD_S, fleet=fleet)
    for i, order in enumerate(orders):
        # a high-value order opens with its token only (the order policy table)
        if i % 2 == 0 and not DEMO_ORDERS[i][1].high_value:
            status, body = await running.post("/api/v1/pickup/code", {"code": order.code})
        else:
            status, body = await running.post("/api/v1/pickup/scan", {"payload": order.token})
        assert (status, body.get("result"), body.get("door")) == (200, "open", order.door), body
    doors = {o.door for o in orders}

    async def seen_open() -> bool:
        return await agent.db.read(_open_doors) == doors

    await wait_for(seen_open, 10, "the supervisor to see the doors open")
    for door in doors:
        running.sim.close_door(door)

    async def seen_closed() -> bool:
        return not await agent.db.read(_open_doors)

    await wait_for(seen_closed, 10, "the supervisor to see the doors shut")
    return orders


async def test_an_offline_week_of_pickups_reaches_the_hub_exactly_once(
    tmp_path: Path, idle_broker: Broker, fleet: DemoFleet
) -> None:
    clock = ManualClock()
    clock.set(fleet.trust_bundle().issued_at + 60)
    running = await start_hub_agent(tmp_path / "data", idle_broker, fleet, clock)
    sync = running.agent.sync
    assert sync is not None
    try:
        collected: list[SeededOrder] = []
        for _ in range(7):
            collected += await _collect_a_day(running, fleet)
            clock.advance(DAY_S)
        assert running.sim.pulses == [o.door for o in collected]
        assert not sync.stats().connected
        queued = await running.agent.db.read(outbox_rows)
        kinds = [e.kind for e in queued]
        assert kinds.count("order.collected") == len(collected) == 35

        idle_broker.start()
        hub = await start_hub(idle_broker, tmp_path / "hub.db", sign_key=fleet.command_key,
                              agent_data=tmp_path / "data")  # fmt: skip
        try:

            async def drained() -> bool:
                return not await running.agent.db.read(outbox_rows)

            await wait_for(drained, 30, "the outbox to drain")
            await wait_for(lambda: sync.stats().connected, 5, "the link to report connected")
        finally:
            await stop_hub(hub)
        audit = await running.agent.db.read(audit_rows)
    finally:
        await running.close()

    stored = await asyncio.to_thread(hub_events, tmp_path / "hub.db")
    # exactly what was queued, in order, once: same seq, kind, transaction, body and time
    assert stored[: len(queued)] == queued
    assert [e.seq for e in stored] == list(range(stored[0].seq, stored[0].seq + len(stored)))
    assert stored[0].seq == 1
    by_order = [e.body["order"] for e in stored if e.kind == "order.collected"]
    assert sorted(by_order) == sorted(o.order_id for o in collected)
    assert {e.body["via"] for e in stored if e.kind == "order.collected"} == {"typed_code", "token"}
    # the audit of what happened on the device tells the same story as the hub's copy
    recorded = [(a, d) for a, _, d in audit if a in {e.kind for e in stored}]
    assert recorded == [(e.kind, e.body) for e in stored]
