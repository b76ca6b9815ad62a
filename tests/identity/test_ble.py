"""The 18013-5 BLE framing and the locker's BLE state machine (`agent/identity/ble.py`), and the
bleak adapter's behaviour on a machine without BlueZ or a BLE adapter (this one)."""

from __future__ import annotations

import time
import uuid
from pathlib import Path

import cbor2
import pytest
from hypothesis import given
from hypothesis import strategies as st

from agent.cli.demo import DEMO_AGE_ORDERS, seed_orders
from agent.config.model import IdentityConfig
from agent.identity import IacaTrustList, MdocPolicy
from agent.identity.ble import (
    MAX_MTU,
    MIN_MTU,
    SERVER2CLIENT,
    BleFramingError,
    BleWalletLink,
    Reassembler,
    chunks,
    peripheral_service,
)
from agent.identity.ble_bleak import BleakCentral
from agent.identity.errors import WalletUnreachable
from agent.identity.proximity import AgeRequirement, prove_age
from agent.identity.simulated_ble import SimulatedBleAir
from agent.services.identity_check import ble_wallet_link
from tests.agent.conftest import start_agent
from tests.identity.test_wallet_link_contract import ISSUER, NOW, wallet

POLICY = MdocPolicy(IacaTrustList.from_pem([ISSUER.iaca_pem]))


@given(st.binary(min_size=1, max_size=3000), st.integers(MIN_MTU, MAX_MTU))
def test_chunks_fit_the_mtu_and_reassemble(message: bytes, mtu: int) -> None:
    values = chunks(message, mtu)
    assert all(2 <= len(v) <= mtu - 3 for v in values)
    assert [v[0] for v in values] == [1] * (len(values) - 1) + [0]
    joined = Reassembler()
    assert [joined.feed(v) for v in values][-1] == message
    assert all(joined.feed(v) is None for v in values[:-1])  # and again: state was reset


def test_the_framing_refuses_what_the_standard_does_not_allow() -> None:
    for mtu in (MIN_MTU - 1, MAX_MTU + 1):
        with pytest.raises(BleFramingError):
            chunks(b"x", mtu)
    with pytest.raises(BleFramingError):
        chunks(b"", 185)
    for bad in (b"", b"\x00", b"\x02abc", b"\xffz"):
        with pytest.raises(BleFramingError):
            Reassembler().feed(bad)
    small = Reassembler(max_message=10)
    small.feed(b"\x01" + bytes(8))
    with pytest.raises(BleFramingError):
        small.feed(b"\x00" + bytes(3))
    assert len(chunks(bytes(20), 23)) == 2  # 19 bytes of data per value at the minimum MTU


def test_the_service_comes_from_the_engagements_peripheral_server_option() -> None:
    phone = wallet(30)
    options = cbor2.loads(phone.engagement_bytes)[2][0][2]
    assert peripheral_service(phone.engagement_bytes) == uuid.UUID(bytes=options[10])
    central_only = cbor2.loads(phone.engagement_bytes)
    central_only[2] = [[2, 1, {0: False, 1: True, 11: options[11]}]]
    with pytest.raises(WalletUnreachable):
        peripheral_service(cbor2.dumps(central_only))
    with pytest.raises(WalletUnreachable):
        peripheral_service(b"\xa0")


async def test_the_state_machine_of_one_session_at_the_minimum_mtu() -> None:
    air = SimulatedBleAir(mtu=23)
    phone = wallet(30)
    peripheral = air.advertise(phone)
    transport = await BleWalletLink(air).connect(phone.engagement_bytes)
    await prove_age(transport, AgeRequirement(18), POLICY, now=NOW)
    log = peripheral.log
    assert log[:3] == ["subscribe state", "subscribe s2c", "state 01"]
    request = log[3 : log.index(next(x for x in log if x.startswith("notify")))]
    assert all(x == "c2s 01+19" for x in request[:-1])
    assert request[-1].startswith("c2s 00+")
    answer = [x for x in log if x.startswith("notify s2c")]
    assert len(answer) > 10  # the DeviceResponse needed many values at 20 bytes
    assert all(x == "notify s2c 01+19" for x in answer[:-1])
    assert log[-3:] == ["c2s 00+9", "state 02", "disconnect"]  # status 20, end, release
    assert peripheral.protocol_errors == []
    assert phone.closed_with == {"status": 20}


async def test_the_wallet_ending_the_session_or_breaking_the_framing() -> None:
    air = SimulatedBleAir()
    phone = wallet(30)
    air.advertise(phone, end_after_request=True)
    transport = await BleWalletLink(air).connect(phone.engagement_bytes)
    with pytest.raises(WalletUnreachable):
        await prove_age(transport, AgeRequirement(18), POLICY, now=NOW)

    phone = wallet(30)
    peripheral = air.advertise(phone)
    transport = await BleWalletLink(air).connect(phone.engagement_bytes)
    peripheral._subscribers[SERVER2CLIENT](b"\x07junk")
    with pytest.raises(BleFramingError):
        await transport.exchange(b"\xa0")
    await transport.close(b"\xa0")
    assert not peripheral.connected


async def test_bleak_without_bluez_is_unreachable_not_a_crash() -> None:
    started = time.monotonic()
    with pytest.raises(WalletUnreachable):
        await BleakCentral().connect(uuid.uuid4(), timeout_s=2.0)
    assert time.monotonic() - started < 3.0


async def test_a_wallet_pickup_over_the_ble_link(tmp_path: Path) -> None:
    """The real agent, its HTTP wallet pickup and the BLE driver over the simulated peripheral."""
    iaca = tmp_path / "iaca"
    iaca.mkdir()
    (iaca / "sim.pem").write_bytes(ISSUER.iaca_pem)
    air = SimulatedBleAir(mtu=185)
    running = await start_agent(
        tmp_path / "data", seed=False, iaca=iaca, wallet_link=BleWalletLink(air)
    )
    try:
        agent = running.agent
        (order,) = await agent.db.run(
            seed_orders,
            agent.typed_code_secret,
            now=running.clock.now(),
            hold_s=86400.0,
            orders=DEMO_AGE_ORDERS,
        )
        minor = wallet(16)
        air.advertise(minor)
        status, body = await running.post(
            "/api/v1/pickup/wallet", {"code": order.code, "engagement": minor.qr}
        )
        assert (status, body["error"]) == (403, "ID_CHECK_FAILED")
        unseen = wallet(30)  # shows its QR but does not advertise: nobody to connect to
        status, body = await running.post(
            "/api/v1/pickup/wallet", {"code": order.code, "engagement": unseen.qr}
        )
        assert (status, body["error"]) == (503, "ID_CHECK_UNAVAILABLE")
        adult = wallet(30)
        peripheral = air.advertise(adult)
        status, body = await running.post(
            "/api/v1/pickup/wallet", {"code": order.code, "engagement": adult.qr}
        )
        assert (status, body["door"]) == (200, order.door)
        assert running.sim.pulses == [order.door]
        assert peripheral.protocol_errors == []
    finally:
        await running.close()


def test_the_configured_ble_link_is_the_bleak_driver() -> None:
    assert ble_wallet_link(IdentityConfig()) is None
    link = ble_wallet_link(IdentityConfig(wallet_link="ble", ble_adapter="hci1"))
    assert isinstance(link, BleWalletLink)
