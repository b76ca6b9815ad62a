"""The `WalletLink` port's contract, run against every implementation: the simulated link (the
phone's QR reaches the wallet object directly) and the BLE driver (`ble.BleWalletLink`, the
18013-5 framing and state machine) over the in-process simulated peripheral, at the smallest,
a common and the largest ATT_MTU. The bleak adapter itself needs BlueZ and a BLE adapter,
which this machine lacks (test_ble.py checks that it fails cleanly there)."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

import pytest

from agent.identity import IacaTrustList, MdocError, MdocPolicy, MdocReason
from agent.identity.ble import BleWalletLink
from agent.identity.errors import WalletUnreachable
from agent.identity.proximity import AgeRequirement, WalletLink, prove_age
from agent.identity.simulated_ble import SimulatedBleAir, SimulatedPeripheral
from agent.identity.simulated_wallet import (
    SimulatedIssuer,
    SimulatedWallet,
    SimulatedWalletLink,
    person_aged,
)
from agent.identity.transcript import engagement_from_qr

PID_NS = "eu.europa.ec.eudi.pid.1"
NOW = time.time()
ISSUER = SimulatedIssuer(now=NOW)
POLICY = MdocPolicy(IacaTrustList.from_pem([ISSUER.iaca_pem]))


@dataclass
class Link:
    """One implementation: `show` makes the wallet reachable and returns the engagement bytes
    the locker read from its QR code."""

    link: WalletLink
    show: Callable[[SimulatedWallet], bytes]
    peripherals: list[SimulatedPeripheral]


def _simulated() -> Link:
    link = SimulatedWalletLink()
    return Link(link, lambda w: engagement_from_qr(link.show(w)), [])


def _ble(mtu: int) -> Callable[[], Link]:
    def make() -> Link:
        air = SimulatedBleAir(mtu=mtu)
        shown: list[SimulatedPeripheral] = []

        def show(wallet: SimulatedWallet) -> bytes:
            shown.append(air.advertise(wallet))
            return wallet.engagement_bytes

        return Link(BleWalletLink(air), show, shown)

    return make


LINKS = {"simulated": _simulated, "ble-23": _ble(23), "ble-185": _ble(185), "ble-517": _ble(517)}


@pytest.fixture(params=sorted(LINKS))
def link(request: pytest.FixtureRequest) -> Link:
    made: Link = LINKS[request.param]()
    return made


def wallet(age: int, **options: object) -> SimulatedWallet:
    today = datetime.fromtimestamp(NOW, UTC).date()
    person = person_aged(age, today=today, given="Contract", family="Suite")
    return SimulatedWallet(ISSUER.issue_pid(person, now=NOW), **options)  # type: ignore[arg-type]


async def _present(link: Link, phone: SimulatedWallet, min_age: int = 18) -> object:
    transport = await link.link.connect(link.show(phone))
    return await prove_age(transport, AgeRequirement(min_age), POLICY, now=NOW)


def _clean(link: Link) -> None:
    for peripheral in link.peripherals:
        assert peripheral.protocol_errors == []
        assert not peripheral.connected  # the link was released


@pytest.mark.parametrize("method", ["signature", "mac"])
async def test_an_adult_proves_the_age_and_the_session_is_ended(link: Link, method: str) -> None:
    phone = wallet(30, method=method)
    outcome = await _present(link, phone)
    assert outcome.age_over == {18: True}  # type: ignore[attr-defined]
    assert phone.requested == [{PID_NS: {"age_over_18": False}}]
    assert phone.closed_with == {"status": 20}
    _clean(link)


async def test_refusals_still_end_the_session(link: Link) -> None:
    minor = wallet(16)
    with pytest.raises(MdocError) as caught:
        await _present(link, minor)
    assert caught.value.code is MdocReason.UNDER_AGE
    assert minor.closed_with == {"status": 20}
    for phone, code in (
        (wallet(30, decline=True), MdocReason.SESSION_CLOSED),
        (wallet(30, garble=True), MdocReason.SESSION_DECRYPT_FAILED),
    ):
        with pytest.raises(MdocError) as caught:
            await _present(link, phone)
        assert caught.value.code is code
    _clean(link)


async def test_a_wallet_not_shown_is_unreachable_and_one_showing_is_one_session(
    link: Link,
) -> None:
    hidden = wallet(30)
    with pytest.raises(WalletUnreachable):
        await link.link.connect(hidden.engagement_bytes)
    phone = wallet(30)
    engagement = link.show(phone)
    transport = await link.link.connect(engagement)
    with pytest.raises(WalletUnreachable):
        await link.link.connect(engagement)
    await prove_age(transport, AgeRequirement(18), POLICY, now=NOW)
    _clean(link)


async def test_close_never_raises(link: Link) -> None:
    transport = await link.link.connect(link.show(wallet(30)))
    await transport.close(b"\xa1fstatus\x14")
    await transport.close(b"\xa1fstatus\x14")  # twice: still quiet
