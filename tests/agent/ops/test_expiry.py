"""Hold periods: the sweep, pausing while doors or the locker are faulted, the hub's decisions."""

from __future__ import annotations

import asyncio

import pytest

from agent.domain.doors import DoorSize
from agent.domain.orders import OrderPolicy, OrderState
from agent.errors import AgentError, TransitionError
from agent.reasons import Reason
from agent.services.orders import Announcement
from tests.agent.ops.conftest import OpsAgent

DAY = 86400.0


async def _loaded(ops: OpsAgent, order_id: str, hold_s: float = 2 * DAY) -> str:
    code = await ops.announce(order_id, hold_s=hold_s)
    await ops.load_and_close(f"PCL:{order_id}:P1")
    return code


async def test_a_parcel_expires_when_its_hold_runs_out_not_before(ops: OpsAgent) -> None:
    code = await _loaded(ops, "ORD-E1")
    ops.clock.advance(2 * DAY - 1)
    assert await ops.agent.expiry.sweep(ops.clock.now()) == []
    ops.clock.advance(1)
    assert await ops.agent.expiry.sweep(ops.clock.now()) == ["ORD-E1"]
    assert (await ops.order("ORD-E1")).state is OrderState.EXPIRED
    assert [e["order"] for e in await ops.events("order.expired")] == ["ORD-E1"]
    assert await ops.agent.expiry.sweep(ops.clock.now()) == []
    status, body = await ops.call("POST", "/api/v1/pickup/code", {"code": code})
    assert (status, body["error"]) == (409, Reason.HOLD_EXPIRED)


async def test_a_faulted_door_stops_its_parcels_clock(ops: OpsAgent) -> None:
    await _loaded(ops, "ORD-P1")
    await _loaded(ops, "ORD-P2")
    door = (await ops.order("ORD-P1")).door
    assert door is not None
    ops.clock.advance(DAY)
    assert await ops.agent.expiry.pause_holds_for_door(door, ops.clock.now()) == 1
    ops.clock.advance(5 * DAY)  # the door was broken for five days
    assert await ops.agent.expiry.sweep(ops.clock.now()) == ["ORD-P2"]
    assert await ops.agent.expiry.resume_holds_for_door(door, ops.clock.now()) == 1
    ops.clock.advance(DAY - 1)
    assert await ops.agent.expiry.sweep(ops.clock.now()) == []
    ops.clock.advance(1)
    assert await ops.agent.expiry.sweep(ops.clock.now()) == ["ORD-P1"]


async def test_a_faulted_locker_stops_every_clock_and_door_repairs_do_not_restart_them(
    ops: OpsAgent,
) -> None:
    await _loaded(ops, "ORD-A1")
    await _loaded(ops, "ORD-A2")
    door1 = (await ops.order("ORD-A1")).door
    door2 = (await ops.order("ORD-A2")).door
    assert door1 is not None
    assert door2 is not None
    await ops.agent.expiry.pause_holds_for_door(door2, ops.clock.now())
    await ops.agent.db.run(
        lambda conn: conn.execute("UPDATE doors SET fault = 'jammed' WHERE number = ?", (door2,))
    )
    assert await ops.agent.expiry.pause_all(ops.clock.now()) == 1
    ops.clock.advance(10 * DAY)
    assert await ops.agent.expiry.resume_holds_for_door(door1, ops.clock.now()) == 0
    assert (await ops.order("ORD-A1")).hold.paused
    assert await ops.agent.expiry.resume_all(ops.clock.now()) == 1
    assert not (await ops.order("ORD-A1")).hold.paused
    assert (await ops.order("ORD-A2")).hold.paused  # its own door is still faulted
    assert await ops.agent.expiry.sweep(ops.clock.now()) == []
    # a parcel loaded while the locker is faulted starts with a stopped clock
    await ops.agent.expiry.pause_all(ops.clock.now())
    await ops.sign_in_again()
    await _loaded(ops, "ORD-A3", hold_s=60)
    ops.clock.advance(DAY)
    assert await ops.agent.expiry.sweep(ops.clock.now()) == []


async def test_the_hub_extends_an_expired_parcel_and_it_is_collectable_again(
    ops: OpsAgent,
) -> None:
    code = await _loaded(ops, "ORD-X", hold_s=DAY)
    ops.clock.advance(DAY)
    await ops.agent.expiry.sweep(ops.clock.now())
    extended = await ops.agent.expiry.extend("ORD-X", DAY, ops.clock.now())
    assert (extended.state, extended.hold.hold_s) == (OrderState.LOADED, 2 * DAY)
    assert (await ops.events("order.extended"))[-1]["extra_s"] == DAY
    status, _ = await ops.call("POST", "/api/v1/pickup/code", {"code": code})
    assert status == 200
    with pytest.raises(TransitionError):
        await ops.agent.expiry.extend("ORD-X", DAY, ops.clock.now())
    with pytest.raises(AgentError) as unknown:
        await ops.agent.expiry.extend("ORD-NOPE", DAY, ops.clock.now())
    assert unknown.value.reason is Reason.ORDER_UNKNOWN


async def test_return_to_sender_never_comes_from_the_device_clock(ops: OpsAgent) -> None:
    await _loaded(ops, "ORD-R", hold_s=60)
    ops.clock.advance(30 * DAY)
    await ops.agent.expiry.sweep(ops.clock.now())
    assert (await ops.order("ORD-R")).state is OrderState.EXPIRED  # flagged, never returned
    marked = await ops.agent.expiry.return_to_sender("ORD-R", ops.clock.now())
    assert marked.state is OrderState.EXPIRED
    assert (await ops.events("order.retrieval_requested"))[-1]["reason"] == "return_to_sender"
    await ops.announce("ORD-ANN")
    with pytest.raises(TransitionError):
        await ops.agent.expiry.return_to_sender("ORD-ANN", ops.clock.now())


async def test_cancel_withdraws_an_announced_order_and_its_pending_load(ops: OpsAgent) -> None:
    await ops.announce("ORD-C")
    ticket = await ops.load("PCL:ORD-C:P1")
    cancelled = await ops.agent.expiry.cancel("ORD-C", ops.clock.now())
    assert cancelled.state is OrderState.CANCELLED
    assert ticket["door"] in await ops.free_doors()
    status, body = await ops.courier_post(f"/api/v1/courier/load/{ticket['load']}/confirm")
    assert (status, body["error"]) == (409, Reason.ILLEGAL_TRANSITION)
    await _loaded(ops, "ORD-C2")
    still = await ops.agent.expiry.cancel("ORD-C2", ops.clock.now())
    assert still.state is OrderState.LOADED
    assert (await ops.events("order.retrieval_requested"))[-1]["reason"] == "cancelled"


async def test_upsert_creates_then_updates_what_may_change(ops: OpsAgent) -> None:
    expiry = ops.agent.expiry
    created = await expiry.upsert_announcement(Announcement("ORD-U", DoorSize.S, DAY))
    assert created.state is OrderState.ANNOUNCED
    updated = await expiry.upsert_announcement(
        Announcement("ORD-U", DoorSize.M, 2 * DAY, policy=OrderPolicy(accessible=True))
    )
    assert (updated.size, updated.hold.hold_s, updated.policy.accessible) == ("M", 2 * DAY, True)
    ticket = await ops.load_and_close("PCL:ORD-U:P1")
    assert ticket["door"] == 15  # low M door for an accessible order
    again = await expiry.upsert_announcement(
        Announcement("ORD-U", DoorSize.L, 9 * DAY, policy=OrderPolicy(id_check_required=True))
    )
    stored = await ops.order("ORD-U")
    assert stored == again
    assert (stored.size, stored.hold.hold_s) == ("M", 2 * DAY)  # loaded: size and hold stay
    assert stored.policy.id_check_required


async def test_the_expiry_task_sweeps_until_stopped(ops: OpsAgent) -> None:
    await _loaded(ops, "ORD-T", hold_s=60)
    ops.clock.advance(61)
    stop = asyncio.Event()
    task = asyncio.create_task(ops.agent.expiry.run(0.01, stop))
    for _ in range(100):
        if (await ops.order("ORD-T")).state is OrderState.EXPIRED:
            break
        await asyncio.sleep(0.01)
    stop.set()
    await asyncio.wait_for(task, 2)
    assert (await ops.order("ORD-T")).state is OrderState.EXPIRED


async def test_serve_runs_the_expiry_task_and_stops_cleanly(ops: OpsAgent) -> None:
    await _loaded(ops, "ORD-S", hold_s=60)
    ops.clock.advance(61)
    stop = asyncio.Event()
    serving = asyncio.create_task(ops.agent.serve(stop))
    for _ in range(100):
        if (await ops.order("ORD-S")).state is OrderState.EXPIRED:
            break
        await asyncio.sleep(0.01)
    stop.set()
    await asyncio.wait_for(serving, 5)
    assert (await ops.order("ORD-S")).state is OrderState.EXPIRED
