"""Reusable packaging returns (issue 10 item 12): no order needed, counted, reported for credit."""

from __future__ import annotations

import asyncio
from collections import Counter
from pathlib import Path

from agent.domain.doors import DoorSize
from agent.reasons import Reason
from agent.services.returns import PACKAGING_POLICY
from agent.store.doors import list_doors
from tests.agent.ops.conftest import OpsAgent, running_ops_agent


async def test_packaging_is_accepted_without_an_order_counted_and_reported(ops: OpsAgent) -> None:
    status, body = await ops.call(
        "POST", "/api/v1/returns/packaging", {"items": 3, "credit_ref": "acct-77"}
    )
    assert (status, body["result"]) == (200, "open")
    door, receipt = body["door"], body["receipt"]
    assert ops.sim.pulses == [door]
    assert door not in await ops.free_doors()
    ops.sim.close_door(int(str(door)))
    status, second = await ops.call("POST", "/api/v1/returns/packaging", {})
    assert status == 200
    events = await ops.events("packaging.returned")
    assert events == [
        {"kind": "packaging.returned", "return": body["return"], "door": door,
         "receipt": receipt, "items": 3, "credit_ref": "acct-77", "total_items": 3},
        {"kind": "packaging.returned", "return": second["return"], "door": second["door"],
         "receipt": second["receipt"], "items": 1, "credit_ref": None, "total_items": 4},
    ]  # fmt: skip
    # no order is involved; the courier sees them as returns of packaging and takes them out
    status, listed = await ops.call("GET", "/api/v1/courier/pickups", session=ops.courier)
    items = {i["ref"]: i for i in listed["items"]}
    assert items[body["return"]]["reason"] == "packaging"
    status, taken = await ops.courier_post("/api/v1/courier/collect", {"door": door})
    assert (status, taken["kind"]) == (200, "return")


async def _packaging(ops: OpsAgent) -> tuple[int, dict[str, object], str]:
    async with ops.http.post(ops.url + "/api/v1/returns/packaging", json={"items": 1}) as answer:
        return answer.status, await answer.json(), answer.headers.get("Retry-After", "")


async def test_packaging_input_is_checked_and_openings_are_rate_limited(tmp_path: Path) -> None:
    async with running_ops_agent(tmp_path / "data") as ops:
        for bad in ({"items": 0}, {"items": 51}, {"items": "3"}, {"items": True},
                    {"credit_ref": "not ok/../"}, {"credit_ref": ""}):  # fmt: skip
            status, body = await ops.call("POST", "/api/v1/returns/packaging", bad)
            assert (status, body["error"]) == (400, Reason.BAD_REQUEST), bad
        assert ops.sim.pulses == []
        for _ in range(PACKAGING_POLICY.burst):
            assert (await _packaging(ops))[0] == 200
        status, body, retry_after = await _packaging(ops)
        assert (status, body["error"], retry_after) == (429, Reason.RATE_LIMITED, "60")
        assert len(ops.sim.pulses) == PACKAGING_POLICY.burst
        clock = ops.clock
        clock.advance(30)
    # a restart used to reset the limit (it was kept in memory)
    async with running_ops_agent(tmp_path / "data", clock=clock) as again:
        status, body, retry_after = await _packaging(again)
        assert (status, body["error"], retry_after) == (429, Reason.RATE_LIMITED, "30")
        assert again.sim.pulses == []
        clock.advance(30)
        assert (await _packaging(again))[0] == 200


async def test_packaging_never_takes_the_last_free_doors_of_a_size(ops: OpsAgent) -> None:
    taken: list[int] = []
    for _ in range(40):
        ops.clock.advance(PACKAGING_POLICY.refill_s)  # at the fastest rate the limit allows
        status, body, retry_after = await _packaging(ops)
        if status != 200:
            break
        taken.append(int(str(body["door"])))
    # 8 doors of each size, 2 kept free of each: 18 drop-offs, then a named refusal
    assert (status, body["error"], retry_after) == (409, Reason.DOORS_RESERVED, "")
    assert len(taken) == 18
    doors = await ops.agent.db.read(list_doors)
    free_by_size = Counter(d.size for d in doors if d.assignable)
    assert free_by_size == {DoorSize.S: 2, DoorSize.M: 2, DoorSize.L: 2}
    # parcels and returns still find a door of every size
    await ops.sign_in_again()  # the courier's session ran out while the clock went on
    for size in DoorSize:
        await ops.announce(f"ORD-{size.value}", size)
        ticket = await ops.load_and_close(f"PCL:ORD-{size.value}:P1")
        assert ticket["door"] not in taken


async def test_concurrent_packaging_requests_open_no_more_doors_than_the_limit(
    ops: OpsAgent,
) -> None:
    answers = await asyncio.gather(*(_packaging(ops) for _ in range(20)))
    statuses = sorted(status for status, _, _ in answers)
    assert statuses == [200] * PACKAGING_POLICY.burst + [429] * (20 - PACKAGING_POLICY.burst)
    assert len(set(ops.sim.pulses)) == PACKAGING_POLICY.burst
