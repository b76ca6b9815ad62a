"""A whole parcel lifecycle through the API on the Modbus TCP driver, against pymodbus' server.

The relay board is pymodbus' own server on a free port (the rig in tests/hardware/conftest.py):
a latch coil switched on makes that door's sensor read open, as a spring-loaded door does, and the
test closes doors by setting the sensor input back. The agent builds its real Modbus driver from
its configuration. Loaded, collected, returned, expired and retrieved, all over HTTP.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from agent.bootstrap.app import Agent
from agent.cli.demo import demo_config
from agent.config.model import StaffPinConfig
from agent.domain.clock import ManualClock
from agent.services.sessions import hash_pin
from agent.tokens.claims import Purpose
from hardware.doors.modbus import ModbusTcpDoorSettings
from provisioning.fleet import DemoFleet, create_demo_fleet
from tests.hardware.conftest import ModbusBoard, free_tcp_port

COURIER_PIN = "246810"


@dataclass
class ModbusLocker:
    agent: Agent
    board: ModbusBoard
    clock: ManualClock
    fleet: DemoFleet
    http: aiohttp.ClientSession
    courier: str = ""

    async def call(self, method: str, path: str, body: object = None) -> tuple[int, Any]:
        assert self.agent.url is not None
        headers = {"Authorization": f"Bearer {self.courier}"} if self.courier else {}
        async with self.http.request(
            method, self.agent.url.rstrip("/") + path, json=body, headers=headers
        ) as response:
            return response.status, await response.json()

    async def sign_in(self) -> None:
        self.courier = ""
        status, body = await self.call("POST", "/api/v1/staff/sign-in", {"pin": COURIER_PIN})
        assert status == 200, body
        self.courier = body["session"]

    async def close_door(self, door: int) -> None:
        await self.board.set_input(door - 1, True)  # input ON = closed

    async def door_is_open(self, door: int) -> bool:
        values = await self.board._server.async_getValues(1, 2, door - 1, 1)
        return not bool(values[0])


@pytest.fixture
async def locker(tmp_path: Path) -> AsyncIterator[ModbusLocker]:
    board = ModbusBoard(size=32)
    port = free_tcp_port()
    await board.start_tcp(port)
    for address in range(32):
        await board.set_input(address, True)  # every door closed

    async def pop_open(_unit: int, coil: int) -> None:
        await board.set_input(coil, False)

    board.on_coil_on = pop_open
    fleet = create_demo_fleet(tmp_path / "fleet", "LK-DEMO-001", time.time())
    config = demo_config(tmp_path / "data", 0, fleet)
    driver = ModbusTcpDoorSettings(type="modbus_tcp", host="127.0.0.1", port=port, pulse_ms=20)
    config = config.model_copy(
        update={
            "doors": config.doors.model_copy(update={"driver": driver}),
            "camera": config.camera.model_copy(update={"enabled": False}),
            "staff": (
                StaffPinConfig(actor="courier-1", role="courier", pin_hash=hash_pin(COURIER_PIN)),
            ),
        }
    )
    clock = ManualClock(time.time())
    agent = Agent(config, clock=clock)
    await agent.start()
    rig = ModbusLocker(agent, board, clock, fleet, aiohttp.ClientSession())
    try:
        await rig.sign_in()
        yield rig
    finally:
        await rig.http.close()
        await agent.stop()
        await board.stop()


async def load(rig: ModbusLocker, label: str, size: str) -> int:
    status, ticket = await rig.call("POST", "/api/v1/courier/load", {"label": label, "size": size})
    assert status == 200, ticket
    door = int(ticket["door"])
    assert await rig.door_is_open(door)
    await rig.close_door(door)
    status, body = await rig.call("POST", f"/api/v1/courier/load/{ticket['load']}/confirm")
    assert (status, body["result"]) == (200, "loaded"), body
    return door


async def test_load_collect_return_expire_and_retrieve_on_a_modbus_board(
    locker: ModbusLocker,
) -> None:
    board = locker.board
    assert not any(await board.coils())  # all relays off at start

    # loaded by a courier, collected with the order's signed token
    door = await load(locker, "PCL:ORD-MB-1:P1", "S")
    token = locker.fleet.mint_pickup("ORD-MB-1", now=locker.clock.now(), hold_s=86400)
    status, body = await locker.call("POST", "/api/v1/pickup/scan", {"payload": token})
    assert (status, body["door"]) == (200, door), body
    assert await locker.door_is_open(door)
    assert (1, door - 1, True) in board.writes
    assert not any(await board.coils())  # the latch pulse ended
    await locker.close_door(door)

    # a customer returns something with a return token: a door opens, a receipt is shown
    ret = locker.fleet.mint_pickup(
        "RET-MB-9", now=locker.clock.now(), hold_s=86400, purpose=Purpose.RETURN
    )
    status, body = await locker.call("POST", "/api/v1/pickup/scan", {"payload": ret})
    assert status == 200, body
    assert body["receipt"]
    return_door = int(body["door"])
    await locker.close_door(return_door)

    # another parcel is never collected: it expires and is retrieved with the return
    stale_door = await load(locker, "PCL:ORD-MB-2:P1", "M")
    locker.clock.advance(locker.agent.config.hold.default_hours * 3600 + 1)
    assert await locker.agent.expiry.sweep(locker.clock.now()) == ["ORD-MB-2"]
    status, body = await locker.call("GET", "/api/v1/courier/pickups")
    assert status == 401  # three days later the courier's session has long expired
    await locker.sign_in()
    status, body = await locker.call("GET", "/api/v1/courier/pickups")
    assert status == 200
    kinds = {(item["kind"], item["door"]) for item in body["items"]}
    assert {("expired", stale_door), ("return", return_door)} <= kinds
    for target in (stale_door, return_door):
        status, body = await locker.call("POST", "/api/v1/courier/collect", {"door": target})
        assert (status, body["result"]) == (200, "collected"), body
        assert await locker.door_is_open(target)
        await locker.close_door(target)
    status, body = await locker.call("GET", "/api/v1/courier/pickups")
    assert body["items"] == []
    assert not any(await board.coils())


async def test_a_board_that_stops_answering_keeps_the_parcel_collectable(
    locker: ModbusLocker,
) -> None:
    door = await load(locker, "PCL:ORD-MB-3:P1", "S")
    token = locker.fleet.mint_pickup("ORD-MB-3", now=locker.clock.now(), hold_s=86400)
    await locker.board.stop()
    status, body = await locker.call("POST", "/api/v1/pickup/scan", {"payload": token})
    assert (status, body["error"]) == (503, "DOOR_FAILED"), body
    port = locker.agent.config.doors.driver.port  # type: ignore[union-attr]
    await locker.board.start_tcp(port)
    for address in range(32):
        await locker.board.set_input(address, True)
    status, body = await locker.call("POST", "/api/v1/pickup/scan", {"payload": token})
    assert (status, body["door"]) == (200, door), body
