"""Customer returns into doors, and couriers taking out returns and expired parcels."""

from __future__ import annotations

import asyncio
import random
import re

import pytest

from agent.domain.doors import DoorSize
from agent.domain.orders import OrderState
from agent.errors import AgentError
from agent.reasons import Reason
from agent.services.returns import ReturnService
from agent.tokens.typed_codes import display_code, new_typed_code
from tests.agent.ops.conftest import OpsAgent


def _returns(ops: OpsAgent) -> ReturnService:
    assert ops.agent.returns is not None
    return ops.agent.returns


async def test_a_verified_return_opens_a_door_of_its_size_once(ops: OpsAgent) -> None:
    grant = await _returns(ops).start_return_dropoff(
        "ORD-RET1", DoorSize.M, now=ops.clock.now(), via="token"
    )
    assert grant.door == 9
    assert re.fullmatch(r"R-[0-9A-Z]{6}", grant.receipt)
    assert ops.sim.pulses == [9]
    assert 9 not in await ops.free_doors()
    event = (await ops.events("return.dropped_off"))[-1]
    assert event == {
        "kind": "return.dropped_off",
        "return": "ORD-RET1",
        "door": 9,
        "receipt": grant.receipt,
        "via": "token",
    }
    with pytest.raises(AgentError) as refused:
        await _returns(ops).start_return_dropoff(
            "ORD-RET1", DoorSize.M, now=ops.clock.now(), via="token"
        )
    assert refused.value.reason is Reason.ALREADY_USED
    assert refused.value.ref == grant.receipt
    assert ops.sim.pulses == [9]


async def test_a_return_skips_a_broken_door(ops: OpsAgent) -> None:
    ops.sim.faults(9).jammed = True
    grant = await _returns(ops).start_return_dropoff(
        "ORD-RET2", DoorSize.M, now=ops.clock.now(), via="token"
    )
    assert grant.door == 10
    assert [e["door"] for e in await ops.events("door.open_failed")] == [9]


async def test_a_typed_return_code_announced_by_the_hub_opens_a_door(ops: OpsAgent) -> None:
    code = new_typed_code(random.Random(3))
    await _returns(ops).expect("ORD-RET3", DoorSize.S, ops.code_key(code))
    status, body = await ops.call("POST", "/api/v1/returns/start", {"code": display_code(code)})
    assert status == 200
    assert body["door"] == 1
    assert str(body["receipt"]) in str(body["message"])
    status, body = await ops.call("POST", "/api/v1/returns/start", {"code": code})
    assert (status, body["error"]) == (409, Reason.ALREADY_USED)
    assert ops.sim.pulses == [1]


async def test_wrong_return_codes_are_rate_limited(ops: OpsAgent) -> None:
    for _ in range(5):
        status, body = await ops.call("POST", "/api/v1/returns/start", {"code": "ZZZZ-ZZZZ"})
        assert (status, body["error"]) == (404, Reason.CODE_UNKNOWN)
    status, body = await ops.call("POST", "/api/v1/returns/start", {"code": "ZZZZ-ZZZZ"})
    assert (status, body["error"]) == (429, Reason.RATE_LIMITED)
    assert ops.sim.pulses == []


async def test_couriers_see_and_take_expired_parcels_returns_and_hub_retrievals(
    ops: OpsAgent,
) -> None:
    await ops.announce("ORD-EXP", hold_s=3600)
    await ops.load_and_close("PCL:ORD-EXP:P1")
    await ops.announce("ORD-RTS", hold_s=86400)
    await ops.load_and_close("PCL:ORD-RTS:P1")
    await ops.announce("ORD-KEEP", hold_s=86400)
    await ops.load_and_close("PCL:ORD-KEEP:P1")
    grant = await _returns(ops).start_return_dropoff(
        "ORD-RET4", DoorSize.S, now=ops.clock.now(), via="token"
    )
    ops.sim.close_door(int(grant.door or 0))
    ops.clock.advance(3601)
    assert await ops.agent.expiry.sweep(ops.clock.now()) == ["ORD-EXP"]
    await ops.agent.expiry.return_to_sender("ORD-RTS", ops.clock.now())
    await ops.sign_in_again()

    status, body = await ops.call("GET", "/api/v1/courier/pickups", session=ops.courier)
    assert status == 200
    items = {(i["kind"], i["ref"]): i for i in body["items"]}
    assert set(items) == {
        ("expired", "ORD-EXP"),
        ("retrieval", "ORD-RTS"),
        ("return", "ORD-RET4"),
    }
    assert items[("return", "ORD-RET4")]["receipt"] == grant.receipt

    pulses = len(ops.sim.pulses)
    status, body = await ops.courier_post("/api/v1/courier/collect", {"order": "ORD-RTS"})
    assert (status, body["kind"], body["reason"]) == (200, "retrieval", "return_to_sender")
    assert (await ops.order("ORD-RTS")).state is OrderState.RETURNED
    door = items[("expired", "ORD-EXP")]["door"]
    status, body = await ops.courier_post("/api/v1/courier/collect", {"door": door})
    assert (status, body["ref"]) == (200, "ORD-EXP")
    assert (await ops.order("ORD-EXP")).state is OrderState.RETRIEVED
    status, body = await ops.courier_post("/api/v1/courier/collect", {"order": "ORD-RET4"})
    assert (status, body["kind"]) == (200, "return")
    assert len(ops.sim.pulses) == pulses + 3
    assert grant.door in await ops.free_doors()

    kinds = [e["kind"] for e in await ops.events()]
    for kind in ("order.retrieved", "order.returned", "return.collected", "order.expired"):
        assert kind in kinds
    status, body = await ops.call("GET", "/api/v1/courier/pickups", session=ops.courier)
    assert body["items"] == []
    status, body = await ops.courier_post("/api/v1/courier/collect", {"order": "ORD-KEEP"})
    assert (status, body["error"]) == (404, Reason.NOT_FOUND)
    # the hub's decision after the courier took the expired parcel: it goes back
    returned = await ops.agent.expiry.return_to_sender("ORD-EXP", ops.clock.now())
    assert returned.state is OrderState.RETURNED


async def test_a_door_that_will_not_open_for_the_courier_keeps_the_item_listed(
    ops: OpsAgent,
) -> None:
    await ops.announce("ORD-STUCK", hold_s=60)
    ticket = await ops.load_and_close("PCL:ORD-STUCK:P1")
    ops.clock.advance(61)
    await ops.agent.expiry.sweep(ops.clock.now())
    ops.sim.faults(int(str(ticket["door"]))).relay_dead = True
    status, body = await ops.courier_post("/api/v1/courier/collect", {"door": ticket["door"]})
    assert (status, body["error"]) == (503, Reason.DOOR_FAILED)
    assert (await ops.order("ORD-STUCK")).state is OrderState.EXPIRED
    status, body = await ops.call("GET", "/api/v1/courier/pickups", session=ops.courier)
    assert [i["ref"] for i in body["items"]] == ["ORD-STUCK"]


async def test_collect_bodies_are_checked(ops: OpsAgent) -> None:
    for body in ({}, {"door": 1, "order": "X"}, {"door": "1"}, {"door": True}, {"order": ""}):
        status, answer = await ops.courier_post("/api/v1/courier/collect", body)
        assert (status, answer["error"]) == (400, Reason.BAD_REQUEST), body
    status, answer = await ops.call("GET", "/api/v1/courier/pickups")
    assert status == 401


async def test_two_simultaneous_collects_of_one_door_pulse_it_once(ops: OpsAgent) -> None:
    await ops.announce("ORD-TWICE", hold_s=60)
    ticket = await ops.load_and_close("PCL:ORD-TWICE:P1")
    ops.clock.advance(61)
    await ops.agent.expiry.sweep(ops.clock.now())
    door = int(str(ticket["door"]))
    ops.sim.faults(door).relay_delay_s = 0.2  # the first opening is still under way
    pulses = len(ops.sim.pulses)
    results = await asyncio.gather(
        ops.courier_post("/api/v1/courier/collect", {"door": door}),
        ops.courier_post("/api/v1/courier/collect", {"door": door}),
    )
    assert sorted(status for status, _ in results) == [200, 409]
    assert len(ops.sim.pulses) == pulses + 1
    assert (await ops.order("ORD-TWICE")).state is OrderState.RETRIEVED
