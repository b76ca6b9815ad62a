"""Reusable packaging returns (issue 10 item 12): no order needed, counted, reported for credit."""

from __future__ import annotations

from agent.reasons import Reason
from agent.services.returns import PACKAGING_PER_HOUR
from tests.agent.ops.conftest import OpsAgent


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


async def test_packaging_input_is_checked_and_openings_are_rate_limited(ops: OpsAgent) -> None:
    for bad in ({"items": 0}, {"items": 51}, {"items": "3"}, {"items": True},
                {"credit_ref": "not ok/../"}, {"credit_ref": ""}):  # fmt: skip
        status, body = await ops.call("POST", "/api/v1/returns/packaging", bad)
        assert (status, body["error"]) == (400, Reason.BAD_REQUEST), bad
    assert ops.sim.pulses == []
    returns = ops.agent.returns
    assert returns is not None
    for _ in range(PACKAGING_PER_HOUR):
        returns._packaging_at.append(ops.clock.now())  # as if a full hour of drop-offs
    status, body = await ops.call("POST", "/api/v1/returns/packaging", {"items": 1})
    assert (status, body["error"]) == (429, Reason.RATE_LIMITED)
    assert ops.sim.pulses == []
    ops.clock.advance(3601)
    status, body = await ops.call("POST", "/api/v1/returns/packaging", {"items": 1})
    assert status == 200
