"""Locker-wide pauses of every hold, from real code paths: a door bus nobody can read, and the
time the agent was off (counted as a locker-wide fault, from the last heartbeat)."""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Mapping
from pathlib import Path

from agent.bootstrap.app import Agent, DoorHardware
from agent.cli.demo import demo_config, seed_orders
from agent.domain.clock import ManualClock
from agent.domain.orders import Order
from agent.store.orders import get_order
from hardware.doors.port import SensorState
from hardware.doors.sim import SimulatedLocker
from hardware.errors import SensorError
from tests.agent.conftest import RunningAgent, start_agent

DAY = 86400.0


async def _orders(running: RunningAgent) -> list[Order]:
    ids = [o.order_id for o in running.orders]

    def read(conn: sqlite3.Connection) -> list[Order]:
        return [o for o in (get_order(conn, i) for i in ids) if o is not None]

    return await running.agent.db.read(read)


async def test_a_door_bus_nobody_can_read_pauses_every_hold_until_it_reads_again(
    tmp_path: Path,
) -> None:
    running = await start_agent(tmp_path / "data", serve=False)
    try:
        supervisor = running.agent.running.supervisor
        await supervisor.poll_once()
        doors = range(1, running.sim.door_count + 1)
        for door in doors:  # the Modbus link is down: every door reads unknown
            running.sim.faults(door).sensor_dead = True
        await supervisor.poll_once()
        assert all(o.hold.paused for o in await _orders(running))
        before = [o.hold.remaining(running.clock.now()) for o in await _orders(running)]
        running.clock.advance(2 * DAY)
        await supervisor.poll_once()  # still down: nothing more happens
        for door in doors:
            running.sim.faults(door).sensor_dead = False
        await supervisor.poll_once()
        now = running.clock.now()
        after = await _orders(running)
        assert not any(o.hold.paused for o in after)
        assert [o.hold.remaining(now) for o in after] == before
        assert await running.agent.expiry.sweep(now + DAY) == []  # 3-day holds, 1 day used
    finally:
        await running.close()


async def test_one_dead_sensor_is_not_a_locker_wide_fault(tmp_path: Path) -> None:
    running = await start_agent(tmp_path / "data", serve=False)
    try:
        running.sim.faults(running.orders[0].door).sensor_dead = True
        await running.agent.running.supervisor.poll_once()
        assert not any(o.hold.paused for o in await _orders(running))
    finally:
        await running.close()


async def test_time_with_the_agent_off_does_not_use_up_holds(tmp_path: Path) -> None:
    clock = ManualClock(time.time())
    first = await start_agent(tmp_path / "data", clock, serve=False)
    orders = first.orders  # 3-day holds
    await first.agent.expiry.sweep(clock.now())  # the last heartbeat before the power cut
    clock.advance(3600)
    await first.close()

    clock.advance(2 * DAY)  # off for two days (and the hour since the heartbeat)
    second = await start_agent(tmp_path / "data", clock, seed=False, serve=False)
    second.orders = orders
    try:
        now = clock.now()
        held = await _orders(second)
        assert all(not o.hold.paused for o in held)
        assert [round(o.hold.remaining(now)) for o in held] == [3 * DAY] * len(held)
        clock.advance(2 * DAY)
        assert await second.agent.expiry.sweep(clock.now()) == []
        status, body = await second.post("/api/v1/pickup/code", {"code": orders[0].code})
        assert (status, body["door"]) == (200, orders[0].door)
        # a restart right after does not credit the same gap twice
        await second.close()
        third = await start_agent(tmp_path / "data", clock, seed=False, serve=False)
        third.orders = orders
        try:
            expected = round(DAY)  # 3 days, 2 used since the credit
            assert [round(o.hold.remaining(clock.now())) for o in await _orders(third)][1:] == [
                expected
            ] * (len(orders) - 1)
        finally:
            await third.close()
    finally:
        if not second.stop.is_set():
            await second.close()


class _BusOfSensors(SimulatedLocker):
    """The simulated bank behind a bus that can go down as a whole (`read_all` raises)."""

    bus_down = False

    async def read_all(self) -> Mapping[int, SensorState]:
        if self.bus_down:
            raise SensorError(0, "no answer from the bus")
        return await super().read_all()


async def test_a_sensor_bus_that_raises_is_a_locker_wide_fault_too(tmp_path: Path) -> None:
    clock = ManualClock(time.time())
    config = demo_config(tmp_path / "data", port=0)
    config = config.model_copy(
        update={"camera": config.camera.model_copy(update={"enabled": False})}
    )
    bank = _BusOfSensors(len(config.doors.layout()))
    agent = Agent(config, clock=clock, hardware=DoorHardware(bank, bank))
    await agent.start()
    try:
        seeded = await agent.db.run(
            seed_orders, agent.typed_code_secret, now=clock.now(), hold_s=DAY
        )
        supervisor = agent.running.supervisor
        await supervisor.poll_once()
        bank.bus_down = True
        await supervisor.poll_once()
        clock.advance(DAY)  # a day with the bus down uses up no hold
        bank.bus_down = False
        await supervisor.poll_once()
        assert await agent.expiry.sweep(clock.now()) == []
        clock.advance(DAY)
        assert sorted(await agent.expiry.sweep(clock.now())) == sorted(o.order_id for o in seeded)
    finally:
        await agent.stop()
