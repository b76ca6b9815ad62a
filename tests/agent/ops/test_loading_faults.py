"""Faults injected into the simulator in the middle of a courier's load."""

from __future__ import annotations

from agent.domain.orders import OrderState
from agent.reasons import Reason
from tests.agent.ops.conftest import OpsAgent


async def _door_fault(ops: OpsAgent, door: int) -> str | None:
    doors = await ops.agent.db.read(
        lambda conn: conn.execute("SELECT number, fault FROM doors").fetchall()
    )
    fault: str | None = {int(r[0]): r[1] for r in doors}[door]
    return fault


async def test_a_dead_relay_sends_the_parcel_to_the_next_door(ops: OpsAgent) -> None:
    await ops.announce("ORD-R")
    ops.sim.faults(1).relay_dead = True
    ticket = await ops.load("PCL:ORD-R:P1")
    assert ticket["door"] == 2
    assert ops.sim.pulses == [2]
    assert await _door_fault(ops, 1) == "relay_failed"
    assert 1 not in await ops.free_doors()
    failed = await ops.events("door.open_failed")
    assert failed == [{"kind": "door.open_failed", "door": 1, "fault": "relay_failed"}]
    ops.sim.close_door(2)
    status, _ = await ops.courier_post(f"/api/v1/courier/load/{ticket['load']}/confirm")
    assert status == 200
    assert (await ops.order("ORD-R")).door == 2


async def test_a_jammed_door_is_detected_by_its_sensor_and_skipped(ops: OpsAgent) -> None:
    await ops.announce("ORD-J")
    ops.sim.faults(1).jammed = True
    ticket = await ops.load("PCL:ORD-J:P1")
    assert ticket["door"] == 2
    assert ops.sim.pulses == [1, 2]
    assert await _door_fault(ops, 1) == "jammed"


async def test_when_every_door_tried_fails_the_courier_is_told(ops: OpsAgent) -> None:
    await ops.announce("ORD-F")
    for door in (1, 2, 3):
        ops.sim.faults(door).relay_dead = True
    status, body = await ops.courier_post("/api/v1/courier/load", {"label": "PCL:ORD-F:P1"})
    assert status == 503
    assert body["error"] == Reason.DOOR_FAILED
    assert (await ops.order("ORD-F")).state is OrderState.ANNOUNCED
    # the next try goes to a healthy door
    assert (await ops.load("PCL:ORD-F:P1"))["door"] == 4


async def test_a_dead_sensor_at_confirmation_takes_the_couriers_word_and_flags_it(
    ops: OpsAgent,
) -> None:
    await ops.announce("ORD-S")
    ticket = await ops.load("PCL:ORD-S:P1")
    ops.sim.faults(1).sensor_dead = True
    status, body = await ops.courier_post(f"/api/v1/courier/load/{ticket['load']}/confirm")
    assert status == 200
    assert body["sensor"] == "unknown"
    order = await ops.order("ORD-S")
    assert order.state is OrderState.LOADED
    assert order.needs_attention == "load_not_seen_by_sensor"
    assert (await ops.events("order.loaded"))[-1]["sensor"] == "unknown"
    # the poller cannot confirm on a dead sensor: nothing pending remains anyway
    assert await ops.agent.loading.confirm_closed(1, ops.clock.now()) == []


async def test_a_dead_sensor_when_the_latch_fires_does_not_count_as_a_jam(ops: OpsAgent) -> None:
    await ops.announce("ORD-DS")
    ops.sim.faults(1).sensor_dead = True
    assert (await ops.load("PCL:ORD-DS:P1"))["door"] == 1
    assert await _door_fault(ops, 1) is None


async def test_a_shared_door_that_fails_is_reported_not_replaced(ops: OpsAgent) -> None:
    await ops.announce("ORD-SH", parcels=("P1", "P2"))
    await ops.load_and_close("PCL:ORD-SH:P1")
    ops.sim.faults(1).relay_dead = True
    status, body = await ops.courier_post("/api/v1/courier/load", {"label": "PCL:ORD-SH:P2"})
    assert (status, body["error"]) == (503, Reason.DOOR_FAILED)
    order = await ops.order("ORD-SH")
    assert (order.door, order.state) == (1, OrderState.LOADED)
    assert await ops.events("order.parcel_added") == []
    assert order.hold.paused  # its door cannot open: the customer's time stops
    status, body = await ops.courier_post("/api/v1/courier/load", {"label": "PCL:ORD-SH:P2"})
    assert (status, body["error"]) == (503, Reason.DOOR_FAILED)
    assert ops.sim.pulses == [1]


async def test_a_relay_dying_between_too_small_and_the_next_door_moves_on(ops: OpsAgent) -> None:
    await ops.announce("ORD-TS")
    small = await ops.load("PCL:ORD-TS:P1")
    ops.sim.faults(9).relay_dead = True
    status, medium = await ops.courier_post(f"/api/v1/courier/load/{small['load']}/too-small")
    assert status == 200
    assert (medium["door"], medium["door_size"]) == (10, "M")


async def test_a_locker_full_of_broken_doors_is_a_full_locker(ops: OpsAgent) -> None:
    await ops.announce("ORD-X")
    ops.sim.faults(1).relay_dead = True
    ops.sim.faults(2).jammed = True
    ops.sim.faults(3).relay_dead = True
    await ops.courier_post("/api/v1/courier/load", {"label": "PCL:ORD-X:P1"})
    faulted = [d for d in (1, 2, 3) if await _door_fault(ops, d)]
    assert faulted == [1, 2, 3]
    assert {1, 2, 3}.isdisjoint(await ops.free_doors())
