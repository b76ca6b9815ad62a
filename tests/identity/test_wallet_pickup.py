"""Age-restricted orders at a real locker: the customer's code or token plus a verified wallet.

A real agent (SQLite file, simulated doors, HTTP) trusts the IACA of a simulated issuer; the
simulated wallets reach it through `SimulatedWalletLink` as a phone would over BLE.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import aiohttp
import cbor2
import pytest

from agent.bootstrap.app import Agent, DoorHardware
from agent.cli.demo import demo_config
from agent.domain.clock import ManualClock
from agent.domain.doors import DoorSize
from agent.domain.orders import OrderPolicy, OrderState
from agent.domain.policy import Attempt, Credential, Flag, Setting, flags_of, with_verified_identity
from agent.identity.names import name_digest
from agent.identity.simulated_wallet import (
    IssuedDocument,
    MadeUpPerson,
    SimulatedIssuer,
    SimulatedWallet,
    SimulatedWalletLink,
    person_aged,
)
from agent.reasons import Reason
from agent.services.identity_check import identity_policy
from agent.services.orders import Announcement, load_into_door
from agent.store.orders import get_order
from agent.tokens.typed_codes import code_lookup_key, display_code, new_typed_code
from hardware.doors.sim import SimulatedLocker
from provisioning.fleet import DemoFleet, create_demo_fleet
from tests.contract.schemas import problems

PID_NS = "eu.europa.ec.eudi.pid.1"
_RNG = random.Random(15)


@dataclass
class Locker:
    agent: Agent
    sim: SimulatedLocker
    http: aiohttp.ClientSession
    fleet: DemoFleet
    issuer: SimulatedIssuer
    link: SimulatedWalletLink
    log_dir: Path

    async def post(self, path: str, body: object) -> tuple[int, dict[str, object]]:
        assert self.agent.url is not None
        async with self.http.post(self.agent.url.rstrip("/") + path, json=body) as response:
            return response.status, await response.json()

    @property
    def now(self) -> float:
        return self.agent.clock.now()

    def wallet(self, age: int, **options: object) -> tuple[SimulatedWallet, MadeUpPerson]:
        today = datetime.fromtimestamp(self.now, UTC).date()
        person = person_aged(age, today=today, given="Zuzanna Quill", family="Privacyova")
        doc = self.issuer.issue_pid(person, now=self.now)
        return SimulatedWallet(doc, **options), person  # type: ignore[arg-type]

    async def place(self, policy: OrderPolicy) -> tuple[str, str, str, int]:
        """Announce and load an order; (order id, typed code, pickup token, door)."""
        order_id = f"ORD-W{_RNG.randrange(10**8):08d}"
        code = new_typed_code(_RNG)
        key = code_lookup_key(code, self.agent.typed_code_secret)
        ann = Announcement(order_id, DoorSize.S, 86400.0, policy=policy, code_key=key)
        await self.agent.expiry.upsert_announcement(ann)
        loaded = await self.agent.db.run(load_into_door, order_id, now=self.now)
        assert loaded.door is not None
        token = self.fleet.mint_pickup(order_id, now=time.time(), hold_s=86400.0)
        return order_id, display_code(code), token, loaded.door

    async def state(self, order_id: str) -> OrderState:
        order = await self.agent.db.read(get_order, order_id)
        assert order is not None
        return order.state

    async def checks(self) -> list[dict[str, object]]:
        rows = await self.agent.db.read(
            lambda conn: conn.execute(
                "SELECT body FROM outbox WHERE kind = 'identity.checked' ORDER BY seq"
            ).fetchall()
        )
        return [json.loads(row[0]) for row in rows]


def _keys(tmp_path: Path, now: float) -> tuple[DemoFleet, SimulatedIssuer, Path]:
    fleet = create_demo_fleet(tmp_path / "fleet", "LK-DEMO-001", now)
    issuer = SimulatedIssuer(now=now)
    iaca = tmp_path / "iaca"
    iaca.mkdir()
    (iaca / "sim.pem").write_bytes(issuer.iaca_pem)
    return fleet, issuer, iaca


async def start_locker(tmp_path: Path) -> Locker:
    now = time.time()
    fleet, issuer, iaca = await asyncio.to_thread(_keys, tmp_path, now)  # key generation, files
    config = demo_config(tmp_path / "data", port=0, fleet=fleet)
    config = config.model_copy(
        update={
            "camera": config.camera.model_copy(update={"enabled": False}),
            "identity": config.identity.model_copy(update={"iaca": (iaca,)}),
        }
    )
    sim = SimulatedLocker(len(config.doors.layout()))
    link = SimulatedWalletLink()
    agent = Agent(config, clock=ManualClock(now), hardware=DoorHardware(sim, sim), wallet_link=link)
    await agent.start()
    return Locker(agent, sim, aiohttp.ClientSession(), fleet, issuer, link, tmp_path)


@pytest.fixture
async def locker(tmp_path: Path) -> AsyncIterator[Locker]:
    running = await start_locker(tmp_path)
    try:
        yield running
    finally:
        await running.http.close()
        await running.agent.stop()


AGE_18 = OrderPolicy(min_age=18)


async def test_an_adult_wallet_opens_an_age_restricted_order(locker: Locker) -> None:
    order_id, code, _, door = await locker.place(AGE_18)
    wallet, _ = locker.wallet(25)
    qr = locker.link.show(wallet)
    status, body = await locker.post("/api/v1/pickup/wallet", {"code": code, "engagement": qr})
    assert (status, body["result"], body["door"]) == (200, "open", door)
    assert locker.sim.pulses == [door]
    assert await locker.state(order_id) is OrderState.COLLECTED
    assert wallet.requested == [{PID_NS: {"age_over_18": False}}]  # nothing else asked
    assert wallet.closed_with == {"status": 20}
    (check,) = await locker.checks()
    assert check == {
        "order": order_id,
        "passed": True,
        "reason": None,
        "method": "mdoc_signature",
        "document": PID_NS,
        "issuer_country": "UT",
        "min_age": 18,
        "recipient_checked": False,
    }
    assert problems("#/components/schemas/event.identity.checked", check) == []
    # the same wallet (or any) cannot open it twice
    again, _ = locker.wallet(25)
    status, body = await locker.post(
        "/api/v1/pickup/wallet", {"code": code, "engagement": locker.link.show(again)}
    )
    assert (status, body["error"]) == (409, "ALREADY_USED")
    assert again.requested == []  # refused before the wallet was asked anything


async def test_a_token_and_a_wallet_using_a_device_mac(locker: Locker) -> None:
    order_id, _, token, door = await locker.place(AGE_18)
    wallet, _ = locker.wallet(40, method="mac")
    status, _ = await locker.post(
        "/api/v1/pickup/wallet", {"payload": token, "engagement": locker.link.show(wallet)}
    )
    assert status == 200
    assert locker.sim.pulses == [door]
    (check,) = await locker.checks()
    assert (check["order"], check["method"]) == (order_id, "mdoc_mac")


async def test_no_wallet_means_no_door(locker: Locker) -> None:
    order_id, code, token, _ = await locker.place(AGE_18)
    for path, body in (
        ("/api/v1/pickup/code", {"code": code}),
        ("/api/v1/pickup/scan", {"payload": token}),
    ):
        status, answer = await locker.post(path, body)
        assert (status, answer["error"]) == (403, "AGE_CHECK_REQUIRED")
    assert locker.sim.pulses == []
    assert await locker.state(order_id) is OrderState.LOADED


def _forged(doc: IssuedDocument) -> IssuedDocument:
    """A minor's credential with `age_over_18` rewritten to true (same digestID, new value)."""
    items = []
    for raw in doc.items[PID_NS]:
        item = cbor2.loads(raw)
        if item["elementIdentifier"] == "age_over_18":
            item["elementValue"] = True
        items.append(cbor2.dumps(item))
    return IssuedDocument(doc.doctype, {PID_NS: items}, doc.issuer_auth, doc.device_key)


async def test_refusals_keep_the_parcel_and_record_only_the_outcome(locker: Locker) -> None:
    minor, _ = locker.wallet(16)
    stranger_issuer = SimulatedIssuer(now=locker.now, name="Elsewhere")
    person = person_aged(30, today=datetime.now(UTC).date(), given="A", family="B")
    stranger = SimulatedWallet(stranger_issuer.issue_pid(person, now=locker.now))
    forged = SimulatedWallet(_forged(minor.doc))
    cases = [(minor, "UNDER_AGE"), (stranger, "ISSUER_UNTRUSTED"), (forged, "DIGEST_MISMATCH")]
    order_id, code, _, _ = await locker.place(AGE_18)
    for wallet, _reason in cases:
        status, body = await locker.post(
            "/api/v1/pickup/wallet", {"code": code, "engagement": locker.link.show(wallet)}
        )
        assert (status, body["error"]) == (403, "ID_CHECK_FAILED")
        assert wallet.closed_with == {"status": 20}
    assert locker.sim.pulses == []
    assert await locker.state(order_id) is OrderState.LOADED
    checks = await locker.checks()
    assert [c["reason"] for c in checks] == [reason for _, reason in cases]
    assert all(c["passed"] is False and c["order"] == order_id for c in checks)
    assert all(problems("#/components/schemas/event.identity.checked", c) == [] for c in checks)


async def test_a_named_recipient_is_matched_by_digest(locker: Locker) -> None:
    salt = os.urandom(16)
    digest = name_digest(salt, "Zuzanna Quill", "Privacyova")
    named = OrderPolicy(min_age=18, recipient_salt=salt, recipient_digest=digest)
    other = OrderPolicy(
        min_age=18, recipient_salt=salt, recipient_digest=name_digest(salt, "Some", "One")
    )
    (_, code, _, door), (other_id, other_code, _, _) = [
        await locker.place(named),
        await locker.place(other),
    ]
    wallet, _ = locker.wallet(25)
    status, _ = await locker.post(
        "/api/v1/pickup/wallet", {"code": code, "engagement": locker.link.show(wallet)}
    )
    assert status == 200
    assert locker.sim.pulses == [door]
    assert wallet.requested == [
        {PID_NS: {"age_over_18": False, "given_name": False, "family_name": False}}
    ]
    wrong, _ = locker.wallet(25)
    status, body = await locker.post(
        "/api/v1/pickup/wallet", {"code": other_code, "engagement": locker.link.show(wrong)}
    )
    assert (status, body["error"]) == (403, "ID_CHECK_FAILED")
    assert await locker.state(other_id) is OrderState.LOADED
    assert [(c["reason"], c["recipient_checked"]) for c in await locker.checks()] == [
        (None, True),
        ("NAME_MISMATCH", True),
    ]


async def test_what_the_wallet_path_refuses_before_asking_a_wallet(locker: Locker) -> None:
    _, code, _, _ = await locker.place(AGE_18)
    _, plain_code, _, _ = await locker.place(OrderPolicy())
    _, high_code, _, _ = await locker.place(OrderPolicy(min_age=18, high_value=True))
    wallet, _ = locker.wallet(25)
    qr = wallet.qr  # never shown to the link: the phone is not reachable
    cases = [
        ({"code": code, "engagement": qr}, 503, "ID_CHECK_UNAVAILABLE"),
        ({"code": "ZZZZ-ZZZZ", "engagement": qr}, 404, "CODE_UNKNOWN"),
        ({"code": plain_code, "engagement": qr}, 400, "BAD_REQUEST"),
        ({"code": high_code, "engagement": qr}, 403, "TOKEN_REQUIRED"),  # the code's own row
        ({"code": code, "engagement": "mdoc:not-an-engagement"}, 403, "ID_CHECK_FAILED"),
        ({"engagement": qr}, 400, "BAD_REQUEST"),
    ]
    for body, status, reason in cases:
        got, answer = await locker.post("/api/v1/pickup/wallet", body)
        assert (got, answer["error"]) == (status, reason), body
    assert wallet.requested == []
    assert locker.sim.pulses == []


def test_the_hub_policy_fields() -> None:
    salt, digest = os.urandom(16), os.urandom(32)
    fields = identity_policy(
        {"min_age": 18, "recipient_salt": salt.hex(), "recipient_digest": digest.hex()}
    )
    assert fields == {"min_age": 18, "recipient_salt": salt, "recipient_digest": digest}
    assert identity_policy({"id_check": True}) == {}
    for bad in (
        {"min_age": 100},
        {"min_age": True},
        {"min_age": "18"},
        {"recipient_digest": digest.hex()},
        {"recipient_salt": "00" * 8, "recipient_digest": digest.hex()},
        {"recipient_salt": salt.hex(), "recipient_digest": "zz"},
    ):
        with pytest.raises(Exception, match="policy") as caught:
            identity_policy(bad)
        assert getattr(caught.value, "reason", None) == "BAD_REQUEST"


def test_min_age_makes_an_id_check_order() -> None:
    assert Flag.ID_CHECK in flags_of(AGE_18)
    assert Flag.ID_CHECK not in flags_of(OrderPolicy())


def test_a_wallet_adds_the_id_check_and_removes_nothing() -> None:
    typed = Attempt(Credential.TYPED_CODE, Setting.UNATTENDED)
    static = Attempt(Credential.STATIC_TOKEN, Setting.UNATTENDED)
    live = Attempt(Credential.LIVE_CODE, Setting.UNATTENDED)
    id_only = frozenset({Flag.ID_CHECK})
    assert with_verified_identity(id_only, typed) is None
    assert with_verified_identity(id_only | {Flag.HIGH_VALUE}, typed) is Reason.TOKEN_REQUIRED
    assert with_verified_identity(id_only | {Flag.HIGH_VALUE}, static) is None
    live_only = id_only | {Flag.LIVE_ONLY}
    assert with_verified_identity(live_only, static) is Reason.HOLDER_PROOF_REQUIRED
    assert with_verified_identity(live_only, live) is None
    # a token's own ID-check flag is satisfied by the wallet as well
    flagged = Attempt(Credential.STATIC_TOKEN, Setting.UNATTENDED, extra_flags=id_only)
    assert with_verified_identity(frozenset(), flagged) is None


async def test_the_hub_can_make_a_loaded_order_age_restricted(locker: Locker) -> None:
    order_id, code, _, _ = await locker.place(OrderPolicy())
    salt = os.urandom(16)
    policy = OrderPolicy(min_age=18, recipient_salt=salt, recipient_digest=bytes(32))
    await locker.agent.expiry.upsert_announcement(
        Announcement(order_id, DoorSize.S, 86400.0, policy)
    )
    order = await locker.agent.db.read(get_order, order_id)
    assert order is not None
    assert order.policy == policy  # stored and read back
    status, body = await locker.post("/api/v1/pickup/code", {"code": code})
    assert (status, body["error"]) == (403, "AGE_CHECK_REQUIRED")
