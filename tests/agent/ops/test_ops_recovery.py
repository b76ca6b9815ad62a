"""Restarts in the middle of an operation: nothing is opened twice, nothing is lost."""

from __future__ import annotations

from pathlib import Path

from agent.domain.doors import DoorSize
from agent.domain.orders import OrderState
from agent.services.returns import reserve_return
from tests.agent.ops.conftest import start_ops_agent


async def test_a_return_interrupted_before_its_door_opened_goes_to_the_couriers(
    tmp_path: Path,
) -> None:
    first = await start_ops_agent(tmp_path / "data")
    reserved = await first.agent.db.run(
        reserve_return,
        "ORD-CRASH",
        DoorSize.S,
        via="token",
        now=first.clock.now(),
        exclude=frozenset(),
    )
    assert reserved is not None
    await first.http.close()
    await first.agent.stop()  # the process "dies" before the latch pulse

    second = await start_ops_agent(tmp_path / "data", clock=first.clock)
    try:
        assert second.sim.pulses == []
        status, body = await second.call("GET", "/api/v1/courier/pickups", session=second.courier)
        assert status == 200
        assert body["items"] == [
            {
                "kind": "return",
                "ref": "ORD-CRASH",
                "door": reserved.grant.door,
                "reason": None,
                "receipt": reserved.grant.receipt,
            }
        ]
        kinds = [e["kind"] for e in await second.events()]
        assert "return.open_interrupted" in kinds
        assert "door.open_interrupted" in kinds
    finally:
        await second.http.close()
        await second.agent.stop()


async def test_a_pending_load_survives_a_restart_and_is_confirmed_by_the_sensor(
    tmp_path: Path,
) -> None:
    first = await start_ops_agent(tmp_path / "data")
    await first.announce("ORD-PEND")
    ticket = await first.load("PCL:ORD-PEND:P1")
    await first.http.close()
    await first.agent.stop()

    second = await start_ops_agent(tmp_path / "data", clock=first.clock)
    try:
        door = int(str(ticket["door"]))
        assert door not in await second.free_doors()  # still reserved
        assert second.agent.loading is not None
        confirmed = await second.agent.loading.confirm_closed(door, second.clock.now())
        assert [c.order_id for c in confirmed] == ["ORD-PEND"]
        assert (await second.order("ORD-PEND")).state is OrderState.LOADED
    finally:
        await second.http.close()
        await second.agent.stop()
