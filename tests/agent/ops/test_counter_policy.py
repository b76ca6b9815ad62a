"""Counter mode takes the customer's QR token, and the counter and staff follow the same order
policy table as a locker door (agent/domain/policy.py)."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric import ec

from agent.config.model import TrustConfig
from agent.domain.orders import OrderPolicy
from agent.reasons import Reason
from agent.tokens.claims import TokenFlags
from provisioning.fleet import DemoFleet, create_demo_fleet
from provisioning.wallet import Wallet
from tests.agent.ops.conftest import OpsAgent, running_ops_agent

LOCKER = "LK-OPS-001"


@pytest.fixture
def fleet(tmp_path: Path) -> DemoFleet:
    return create_demo_fleet(tmp_path / "fleet", LOCKER, time.time())


def _trust(fleet: DemoFleet) -> TrustConfig:
    return TrustConfig(root_keys=fleet.root_public_paths, bundle=fleet.bundle_path)


@pytest.fixture
async def counter(tmp_path: Path, fleet: DemoFleet) -> AsyncIterator[OpsAgent]:
    async with running_ops_agent(tmp_path / "data", mode="counter", trust=_trust(fleet)) as ops:
        yield ops


@pytest.fixture
async def locker(tmp_path: Path, fleet: DemoFleet) -> AsyncIterator[OpsAgent]:
    async with running_ops_agent(tmp_path / "data", trust=_trust(fleet)) as ops:
        yield ops


async def _received(counter: OpsAgent, order_id: str, policy: OrderPolicy) -> str:
    code = await counter.announce(order_id, policy=policy)
    status, body = await counter.staff_post(
        "/api/v1/counter/receive", {"label": f"PCL:{order_id}:P1"}
    )
    assert status == 200, body
    return code


def _token(fleet: DemoFleet, order_id: str, flags: TokenFlags = TokenFlags()) -> str:  # noqa: B008
    return fleet.mint_pickup(order_id, now=time.time(), hold_s=3600, flags=flags)


async def test_the_counter_hands_out_against_the_customers_qr_token(
    counter: OpsAgent, fleet: DemoFleet
) -> None:
    await _received(counter, "ORD-QR", OrderPolicy())
    token = _token(fleet, "ORD-QR")
    body = {"code": token, "label": "PCL:ORD-QR:P1"}
    status, answer = await counter.staff_post("/api/v1/counter/handout", body)
    assert (status, answer["result"], answer["order"]) == (200, "handed_out", "ORD-QR"), answer
    [event] = await counter.events("order.collected")
    assert (event["via"], event["door"]) == ("token", None)
    # the same token, shown again, finds its order collected
    status, answer = await counter.staff_post("/api/v1/counter/handout", body)
    assert (status, answer["error"]) == (409, Reason.ALREADY_USED)


async def test_a_token_in_the_token_field_and_its_label_must_match(
    counter: OpsAgent, fleet: DemoFleet
) -> None:
    await _received(counter, "ORD-QR2", OrderPolicy())
    await _received(counter, "ORD-OTHER", OrderPolicy())
    token = _token(fleet, "ORD-QR2")
    wrong = {"token": token, "label": "PCL:ORD-OTHER:P1"}
    status, answer = await counter.staff_post("/api/v1/counter/handout", wrong)
    assert (status, answer["error"]) == (409, Reason.LABEL_MISMATCH)
    right = {"token": token, "label": "PCL:ORD-QR2:P1"}
    assert (await counter.staff_post("/api/v1/counter/handout", right))[0] == 200


async def test_the_counter_applies_the_table_to_what_the_customer_shows(
    counter: OpsAgent, fleet: DemoFleet
) -> None:
    code = await _received(counter, "ORD-LIVE", OrderPolicy(live_required=True))
    label = "PCL:ORD-LIVE:P1"
    status, answer = await counter.staff_post(
        "/api/v1/counter/handout", {"code": code, "label": label}
    )
    assert (status, answer["error"]) == (403, Reason.HOLDER_PROOF_REQUIRED)
    status, answer = await counter.staff_post(
        "/api/v1/counter/handout", {"code": _token(fleet, "ORD-LIVE"), "label": label}
    )
    assert (status, answer["error"]) == (403, Reason.HOLDER_PROOF_REQUIRED)
    phone = ec.generate_private_key(ec.SECP256R1())
    token = fleet.mint_pickup(
        "ORD-LIVE", now=time.time(), hold_s=3600, holder_key=phone.public_key()
    )
    live = Wallet(token, phone).live_code(time.time())
    status, answer = await counter.staff_post(
        "/api/v1/counter/handout", {"code": live, "label": label}
    )
    assert status == 200, answer

    code = await _received(counter, "ORD-HV", OrderPolicy(high_value=True))
    status, answer = await counter.staff_post(
        "/api/v1/counter/handout", {"code": code, "label": "PCL:ORD-HV:P1"}
    )
    assert (status, answer["error"]) == (403, Reason.TOKEN_REQUIRED)


async def test_an_id_check_token_at_the_counter_needs_a_passed_check(
    counter: OpsAgent, fleet: DemoFleet
) -> None:
    await _received(counter, "ORD-ID", OrderPolicy(id_check_required=True))
    body = {"code": _token(fleet, "ORD-ID", TokenFlags(id_check=True)), "label": "PCL:ORD-ID:P1"}
    status, answer = await counter.staff_post("/api/v1/counter/handout", body)
    assert (status, answer["error"]) == (409, Reason.ID_CHECK_NEEDED)
    status, answer = await counter.staff_post(
        "/api/v1/counter/handout", {**body, "id_check": "failed"}
    )
    assert (status, answer["error"]) == (403, Reason.ID_CHECK_FAILED)
    status, answer = await counter.staff_post(
        "/api/v1/counter/handout", {**body, "id_check": "passed"}
    )
    assert (status, answer["id_check"]) == (200, "passed")
    outcomes = [d for a, d in await counter.audit_actions() if a == "id_check"]
    assert outcomes == ['{"outcome":"failed"}', '{"outcome":"passed"}']


async def test_staff_open_a_door_for_a_customer_under_the_table(locker: OpsAgent) -> None:
    await locker.announce("ORD-ST", policy=OrderPolicy(id_check_required=True, high_value=True))
    ticket = await locker.load_and_close("PCL:ORD-ST:P1")
    door = int(str(ticket["door"]))
    locker.sim.pulses.clear()
    status, answer = await locker.staff_post("/api/v1/staff/handout", {"order": "ORD-ST"})
    assert (status, answer["error"]) == (409, Reason.ID_CHECK_NEEDED)
    status, answer = await locker.staff_post(
        "/api/v1/staff/handout", {"order": "ORD-ST", "id_check": "not_possible"}
    )
    assert (status, answer["error"]) == (503, Reason.ID_CHECK_UNAVAILABLE)
    assert locker.sim.pulses == []
    status, answer = await locker.staff_post(
        "/api/v1/staff/handout", {"order": "ORD-ST", "id_check": "passed"}
    )
    assert (status, answer["door"]) == (200, door), answer
    assert locker.sim.pulses == [door]
    [event] = await locker.events("order.collected")
    assert event["via"] == "staff"
    status, answer = await locker.staff_post(
        "/api/v1/staff/handout", {"order": "ORD-ST", "id_check": "passed"}
    )
    assert (status, answer["error"]) == (409, Reason.ALREADY_USED)


async def test_staff_cannot_hand_out_a_cancelled_parcel(locker: OpsAgent) -> None:
    await locker.announce("ORD-CX")
    await locker.load_and_close("PCL:ORD-CX:P1")
    await locker.agent.expiry.cancel("ORD-CX", locker.clock.now())
    status, answer = await locker.staff_post("/api/v1/staff/handout", {"order": "ORD-CX"})
    assert (status, answer["error"]) == (409, Reason.ORDER_CANCELLED)
