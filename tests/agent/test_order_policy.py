"""The order policy on every path of a locker: typed code, token, "the door did not open",
staff opening for a customer; the hub's cancel and return-to-sender; the hold at pickup time."""

from __future__ import annotations

import random
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric import ec

from agent.domain.doors import DoorSize
from agent.domain.orders import OrderPolicy, OrderState
from agent.reasons import Reason
from agent.services.orders import Announcement, load_into_door
from agent.tokens.typed_codes import code_lookup_key, display_code, new_typed_code
from provisioning.fleet import DemoFleet, create_demo_fleet
from provisioning.wallet import Wallet
from tests.agent.conftest import RunningAgent, start_agent

DAY = 86400.0
_RNG = random.Random(10)


@dataclass(frozen=True)
class Placed:
    order_id: str
    door: int
    code: str
    token: str
    holder: ec.EllipticCurvePrivateKey


@pytest.fixture
def fleet(tmp_path: Path) -> DemoFleet:
    return create_demo_fleet(tmp_path / "fleet", "LK-DEMO-001", time.time())


@pytest.fixture
async def locker(tmp_path: Path, fleet: DemoFleet) -> AsyncIterator[RunningAgent]:
    running = await start_agent(tmp_path / "data", fleet=fleet, seed=False)
    try:
        yield running
    finally:
        await running.close()


async def place(
    locker: RunningAgent,
    fleet: DemoFleet,
    order_id: str,
    policy: OrderPolicy = OrderPolicy(),  # noqa: B008 (frozen)
    *,
    hold_s: float = 3 * DAY,
) -> Placed:
    """Announce an order like the hub (its policy, typed code) and load it into a door; its
    token carries no flags of its own, so only the order's policy can refuse it."""
    code = new_typed_code(_RNG)
    key = code_lookup_key(code, locker.agent.typed_code_secret)
    ann = Announcement(order_id, DoorSize.S, hold_s, policy=policy, code_key=key)
    await locker.agent.expiry.upsert_announcement(ann)
    loaded = await locker.agent.db.run(load_into_door, order_id, now=locker.clock.now())
    assert loaded.door is not None
    holder = ec.generate_private_key(ec.SECP256R1())
    token = fleet.mint_pickup(
        order_id, now=time.time(), hold_s=hold_s, holder_key=holder.public_key()
    )
    return Placed(order_id, loaded.door, display_code(code), token, holder)


async def by_code(locker: RunningAgent, code: str) -> tuple[int, dict[str, object]]:
    return await locker.post("/api/v1/pickup/code", {"code": code})


async def by_scan(locker: RunningAgent, payload: str) -> tuple[int, dict[str, object]]:
    return await locker.post("/api/v1/pickup/scan", {"payload": payload})


async def test_a_typed_code_never_opens_a_live_only_order(
    locker: RunningAgent, fleet: DemoFleet
) -> None:
    order = await place(locker, fleet, "ORD-LIVE", OrderPolicy(live_required=True))
    status, body = await by_code(locker, order.code)
    assert (status, body["error"]) == (403, Reason.HOLDER_PROOF_REQUIRED)
    status, body = await by_scan(locker, order.token)  # a screenshot of the static token
    assert (status, body["error"]) == (403, Reason.HOLDER_PROOF_REQUIRED)
    assert locker.sim.pulses == []
    live = Wallet(order.token, order.holder).live_code(time.time())
    status, body = await by_scan(locker, live)
    assert (status, body["door"]) == (200, order.door)


async def test_a_typed_code_never_opens_a_high_value_order(
    locker: RunningAgent, fleet: DemoFleet
) -> None:
    order = await place(locker, fleet, "ORD-HIGH", OrderPolicy(high_value=True))
    status, body = await by_code(locker, order.code)
    assert (status, body["error"]) == (403, Reason.TOKEN_REQUIRED)
    assert "QR code" in str(body["message"])
    assert locker.sim.pulses == []
    status, body = await by_scan(locker, order.token)
    assert (status, body["door"]) == (200, order.door)


async def test_an_id_check_order_never_opens_at_an_unattended_locker(
    locker: RunningAgent, fleet: DemoFleet
) -> None:
    order = await place(locker, fleet, "ORD-ID", OrderPolicy(id_check_required=True))
    for status, body in [
        await by_code(locker, order.code),
        await by_scan(locker, order.token),
        await by_scan(locker, Wallet(order.token, order.holder).live_code(time.time())),
    ]:
        assert (status, body["error"]) == (403, Reason.AGE_CHECK_REQUIRED)
        assert "ID check" in str(body["message"])
    assert locker.sim.pulses == []
    assert (await locker.agent.db.read(_state, order.order_id)) == "loaded"


def _state(conn: object, order_id: str) -> str:
    row = conn.execute("SELECT state FROM orders WHERE order_id = ?", (order_id,)).fetchone()  # type: ignore[attr-defined]
    return str(row[0])


@pytest.mark.parametrize(
    ("decide", "reason"),
    [("cancel", Reason.ORDER_CANCELLED), ("return_to_sender", Reason.ORDER_RETURNING)],
)
async def test_a_withdrawn_parcel_never_opens_for_the_customer_and_waits_for_a_courier(
    locker: RunningAgent, fleet: DemoFleet, decide: str, reason: Reason
) -> None:
    order = await place(locker, fleet, "ORD-GONE")
    await getattr(locker.agent.expiry, decide)(order.order_id, locker.clock.now())
    for status, body in [
        await by_code(locker, order.code),
        await by_scan(locker, order.token),
        await locker.post("/api/v1/pickup/door-did-not-open", {"code": order.code}),
    ]:
        assert (status, body["error"]) == (409, reason)
        assert "contact support" in str(body["message"]).lower()
    # an extension does not give it back either
    await locker.agent.expiry.extend(order.order_id, DAY, locker.clock.now())
    status, body = await by_code(locker, order.code)
    assert (status, body["error"]) == (409, reason)
    assert locker.sim.pulses == []
    # the courier takes it out
    collection = locker.agent.running.collection
    assert collection is not None
    [item] = await collection.pickups()
    assert (item.kind, item.ref, item.door) == ("retrieval", order.order_id, order.door)
    await collection.collect(door=order.door, ref=None, actor="courier-1")
    assert locker.sim.pulses == [order.door]
    expected = "returned" if decide == "return_to_sender" else "retrieved"
    assert await locker.agent.db.read(_state, order.order_id) == expected


async def test_an_ended_hold_refuses_before_the_expiry_sweep(
    locker: RunningAgent, fleet: DemoFleet
) -> None:
    first = await place(locker, fleet, "ORD-LATE-1", hold_s=DAY)
    second = await place(locker, fleet, "ORD-LATE-2", hold_s=DAY)
    locker.clock.advance(DAY + 1)  # no sweep has run
    status, body = await by_code(locker, first.code)
    assert (status, body["error"]) == (409, Reason.HOLD_EXPIRED)
    status, body = await by_scan(locker, second.token)
    assert (status, body["error"]) == (409, Reason.HOLD_EXPIRED)
    assert locker.sim.pulses == []


async def test_a_door_fault_pauses_the_hold_that_pickup_checks(
    locker: RunningAgent, fleet: DemoFleet
) -> None:
    order = await place(locker, fleet, "ORD-PAUSED", hold_s=DAY)
    now = locker.clock.now()
    await locker.agent.expiry.pause_holds_for_door(order.door, now)
    locker.clock.advance(2 * 3600)
    await locker.agent.expiry.resume_holds_for_door(order.door, locker.clock.now())
    locker.clock.advance(DAY - 3600)  # past the hold's end on the wall clock, not on its own
    status, body = await by_code(locker, order.code)
    assert (status, body["door"]) == (200, order.door)


async def test_door_did_not_open_obeys_the_table(locker: RunningAgent, fleet: DemoFleet) -> None:
    live = await place(locker, fleet, "ORD-LIVE-R", OrderPolicy(live_required=True))
    status, body = await locker.post("/api/v1/pickup/door-did-not-open", {"code": live.code})
    assert (status, body["error"]) == (403, Reason.HOLDER_PROOF_REQUIRED)
    late = await place(locker, fleet, "ORD-LATE-R", hold_s=60)
    locker.clock.advance(61)
    status, body = await locker.post("/api/v1/pickup/door-did-not-open", {"code": late.code})
    assert (status, body["error"]) == (409, Reason.HOLD_EXPIRED)
    order = await locker.agent.db.read(_state, "ORD-LATE-R")
    assert order == OrderState.LOADED.value
