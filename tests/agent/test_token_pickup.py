"""Signed tokens through the running agent: offline, spend-once, every refusal with its reason."""

import asyncio
import sqlite3
import time
from collections.abc import AsyncIterator
from pathlib import Path

import cbor2
import pytest
from cryptography.hazmat.primitives.asymmetric import ec

from agent.reasons import Reason
from agent.tokens import codec, cose
from agent.tokens.claims import Purpose, TokenFlags
from provisioning.fleet import DemoFleet, create_demo_fleet
from provisioning.mint import mint_delegate
from provisioning.wallet import Wallet
from tests.agent.conftest import RunningAgent, start_agent


@pytest.fixture
def fleet(tmp_path: Path) -> DemoFleet:
    return create_demo_fleet(tmp_path / "fleet", "LK-DEMO-001", time.time())


@pytest.fixture
async def locker(tmp_path: Path, fleet: DemoFleet) -> AsyncIterator[RunningAgent]:
    running = await start_agent(tmp_path / "data", fleet=fleet)
    try:
        yield running
    finally:
        await running.close()


async def scan(locker: RunningAgent, payload: str) -> tuple[int, dict[str, object]]:
    return await locker.post("/api/v1/pickup/scan", {"payload": payload})


async def test_a_minted_token_opens_its_door_exactly_once(locker: RunningAgent) -> None:
    order = locker.orders[0]
    assert order.token is not None
    status, body = await scan(locker, order.token)
    assert (status, body["result"], body["door"]) == (200, "open", order.door)
    status, body = await scan(locker, order.token)
    assert (status, body["error"]) == (409, Reason.ALREADY_USED)
    assert locker.sim.pulses == [order.door]


async def test_two_concurrent_scans_of_one_token_open_one_door(locker: RunningAgent) -> None:
    token = locker.orders[1].token
    assert token is not None
    results = await asyncio.gather(*(scan(locker, token) for _ in range(6)))
    assert sorted(status for status, _ in results) == [200] + [409] * 5
    assert locker.sim.pulses == [locker.orders[1].door]


P256_N = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551


def malleate(token: str) -> str:
    """The same token with its ECDSA signature s replaced by n - s (still a valid signature)."""
    parts = cbor2.loads(codec.b45decode(token.removeprefix("LK1:"))).value
    signature = parts[3]
    s = int.from_bytes(signature[32:], "big")
    twin = signature[:32] + (P256_N - s).to_bytes(32, "big")
    return "LK1:" + codec.b45encode(cose.encode_sign1(parts[0], parts[1], parts[2], twin))


async def test_a_malleated_signature_is_still_the_same_spent_token(
    locker: RunningAgent,
) -> None:
    token = locker.orders[2].token
    assert token is not None
    twin = malleate(token)
    assert twin != token
    assert (await scan(locker, token))[0] == 200
    status, body = await scan(locker, twin)
    assert (status, body["error"]) == (409, Reason.ALREADY_USED)


async def test_a_delegate_token_closes_the_same_order(
    locker: RunningAgent, fleet: DemoFleet
) -> None:
    order = locker.orders[0]
    assert order.token is not None
    delegate = mint_delegate(fleet.issuing_key, order.token, now=time.time())
    assert (await scan(locker, delegate))[0] == 200
    status, body = await scan(locker, order.token)
    assert (status, body["error"]) == (409, Reason.ALREADY_USED)


async def test_refusals_carry_the_reason_and_one_shared_message_for_forgeries(
    locker: RunningAgent, tmp_path: Path
) -> None:
    order = locker.orders[0]
    assert order.token is not None
    stranger = create_demo_fleet(tmp_path / "other", "LK-DEMO-001", time.time())
    forged = stranger.mint_pickup(order.order_id, now=time.time(), hold_s=3600)
    other_locker = locker_token_for(stranger, order.order_id, "LK-ELSEWHERE")
    cases = {
        "LK1:" + "A" * 20: Reason.DECODE_FAILED,
        forged: Reason.UNKNOWN_KID,
        order.token[:-6]: None,  # truncated: any decode/shape reason
    }
    messages = set()
    for payload, reason in cases.items():
        status, body = await scan(locker, payload)
        assert status in {400, 403}, body
        if reason is not None:
            assert body["error"] == reason
        if body["error"] != Reason.DECODE_FAILED:
            messages.add(body["message"])
    assert len(messages) == 1  # forged and malformed look the same to the person
    assert other_locker  # minted for another locker: refused below with the real issuer
    assert locker.sim.pulses == []


def locker_token_for(fleet: DemoFleet, order_id: str, locker_id: str) -> str:
    from provisioning.mint import mint_token

    return mint_token(
        fleet.issuing_key, order_ref=order_id, lockers=[locker_id], now=time.time(), hold_s=600
    )


async def test_time_binding_and_purpose_are_enforced(
    locker: RunningAgent, fleet: DemoFleet
) -> None:
    order = locker.orders[3]
    now = time.time()
    wrong_locker = locker_token_for(fleet, order.order_id, "LK-ELSEWHERE")
    early = fleet.mint_pickup(order.order_id, now=now + 86400, hold_s=3600)
    courier = fleet.mint_pickup(order.order_id, now=now, hold_s=3600, purpose=Purpose.COURIER)
    expired = fleet.mint_pickup(order.order_id, now=now - 7200, hold_s=3600)
    for payload, reason in [
        (wrong_locker, Reason.WRONG_LOCKER),
        (early, Reason.CLOCK_UNTRUSTED),  # iat in the future: our clock is behind the hub
        (courier, Reason.WRONG_PURPOSE),
        (expired, Reason.EXPIRED),
    ]:
        status, body = await scan(locker, payload)
        assert (status, body["error"]) == (403 if status == 403 else 503, reason), body
    assert locker.sim.pulses == []


async def test_a_clock_below_the_time_floor_refuses_tokens(locker: RunningAgent) -> None:
    token = locker.orders[0].token
    assert token is not None
    locker.clock.set(locker.clock.now() - 30 * 86400)  # a board that booted without its RTC
    status, body = await scan(locker, token)
    assert (status, body["error"]) == (503, Reason.CLOCK_UNTRUSTED)
    assert "can't check codes" in str(body["message"])


async def test_a_live_code_is_required_when_the_token_says_so(
    locker: RunningAgent, fleet: DemoFleet
) -> None:
    order = locker.orders[4]
    phone_key = ec.generate_private_key(ec.SECP256R1())
    token = fleet.mint_pickup(
        order.order_id,
        now=time.time(),
        hold_s=3600,
        flags=TokenFlags(live_required=True, high_value=True),
        holder_key=phone_key.public_key(),
    )
    status, body = await scan(locker, token)  # a screenshot of the static token
    assert (status, body["error"]) == (403, Reason.HOLDER_PROOF_REQUIRED)
    frame = Wallet(token, phone_key).live_code(time.time())
    status, body = await scan(locker, frame)
    assert status == 200, body
    status, body = await scan(locker, frame)  # the same frame again
    assert status in {403, 409}
    assert body["error"] in {Reason.HOLDER_PROOF_STALE, Reason.ALREADY_USED}


async def test_an_unknown_order_is_refused_and_spends_nothing(
    locker: RunningAgent, fleet: DemoFleet
) -> None:
    token = fleet.mint_pickup("ORD-NOT-HERE", now=time.time(), hold_s=3600)
    status, body = await scan(locker, token)
    assert (status, body["error"]) == (404, Reason.ORDER_UNKNOWN)
    conn = sqlite3.connect(locker.agent.config.database_path)
    assert conn.execute("SELECT COUNT(*) FROM spent_tokens").fetchone()[0] == 0
    conn.close()


async def test_the_time_floor_rises_with_verified_tokens(locker: RunningAgent) -> None:
    token = locker.orders[0].token
    assert token is not None
    before = locker.agent.trust.time_floor if locker.agent.trust else 0
    await scan(locker, token)
    conn = sqlite3.connect(locker.agent.config.database_path)
    stored = float(
        conn.execute("SELECT value FROM settings WHERE key = 'time_floor'").fetchone()[0]
    )
    conn.close()
    assert stored >= before > 0


async def test_a_courier_token_from_the_hub_signs_a_courier_in(
    locker: RunningAgent, fleet: DemoFleet
) -> None:
    now = time.time()
    courier = fleet.mint_pickup("courier-0042", now=now, hold_s=8 * 3600, purpose=Purpose.COURIER)
    status, body = await locker.post("/api/v1/staff/sign-in", {"token": courier})
    assert status == 200, body
    assert (body["role"], body["actor"]) == ("courier", "courier-0042")
    headers = {"Authorization": f"Bearer {body['session']}"}
    async with locker.http.get(locker.url + "/api/v1/courier/pickups", headers=headers) as resp:
        assert resp.status == 200
    async with locker.http.get(locker.url + "/api/v1/staff/inventory", headers=headers) as resp:
        assert resp.status == 401  # a courier is not staff

    staff = fleet.mint_pickup("staff-0007", now=now, hold_s=3600, purpose=Purpose.STAFF)
    status, body = await locker.post("/api/v1/staff/sign-in", {"token": staff})
    assert (status, body["role"]) == (200, "staff")

    pickup = locker.orders[0].token
    assert pickup is not None
    status, body = await locker.post("/api/v1/staff/sign-in", {"token": pickup})
    assert (status, body["error"]) == (403, Reason.WRONG_PURPOSE)
    status, body = await locker.post("/api/v1/staff/sign-in", {"token": "LK1:JUNK"})
    assert status in {400, 403}
    assert "session" not in body
