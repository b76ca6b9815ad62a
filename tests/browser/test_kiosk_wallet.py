"""The kiosk's wallet screen (issue 15 item 4): an 18+ order's code or camera-read token leads
to the wallet screen; the customer's wallet QR read by the (simulated) camera opens the door
only for an adult with a credential from a trusted issuer. Real agent, real Chromium."""

from __future__ import annotations

import asyncio
import json
import time
from datetime import UTC, datetime
from pathlib import Path

from agent.cli.demo import DEMO_AGE_ORDERS, seed_orders
from agent.identity.simulated_wallet import SimulatedIssuer, SimulatedWallet, person_aged
from agent.store import orders
from hardware.camera.sim import SimulatedCamera
from provisioning.fleet import create_demo_fleet
from tests.agent.conftest import start_agent
from tests.browser.cdp import CdpPage
from tests.browser.kiosk import (
    AUDIT_JS,
    BROWSER_TESTS,
    RECORD_SPEECH_JS,
    is_shown,
    open_kiosk,
    spoken,
    type_code,
    wait_for_result,
)
from tests.browser.wallet import WalletLocker, wallet_locker

pytestmark = BROWSER_TESTS

PID_NS = "eu.europa.ec.eudi.pid.1"


async def _checks(locker: WalletLocker) -> list[dict[str, object]]:
    rows = await locker.running.agent.db.read(
        lambda conn: conn.execute(
            "SELECT body FROM outbox WHERE kind = 'identity.checked' ORDER BY seq"
        ).fetchall()
    )
    return [json.loads(row[0]) for row in rows]


async def _state(locker: WalletLocker) -> str:
    order = await locker.running.agent.db.read(orders.get_order, locker.order.order_id)
    assert order is not None
    return order.state.value


async def test_an_adult_wallet_opens_the_18_plus_order(tmp_path: Path, page: CdpPage) -> None:
    async with wallet_locker(tmp_path) as locker:
        await open_kiosk(page, locker.running.url)
        await page.evaluate(RECORD_SPEECH_JS)
        await type_code(page, locker.order.code)
        await wait_for_result(page, "needs a proof of age")
        assert await is_shown(page, "wallet")
        assert not await is_shown(page, "code-form")
        assert await page.evaluate(AUDIT_JS) == []  # labels, 48 px targets, contrast
        said = " ".join(s["text"] for s in await spoken(page))
        assert "hold its QR code to the camera" in said
        assert locker.running.sim.pulses == []

        wallet = locker.wallet(25)
        locker.show_wallet(wallet, seed=2)
        text = await wait_for_result(page, "is open", within_s=15)
        assert text == f"Door {locker.order.door} is open"
        assert locker.running.sim.pulses == [locker.order.door]
        assert not await is_shown(page, "wallet")
        assert await _state(locker) == "collected"
        # only age_over_18 was asked for, and the session was ended
        assert wallet.requested == [{PID_NS: {"age_over_18": False}}]
        assert wallet.closed_with == {"status": 20}
        (check,) = await _checks(locker)
        assert (check["passed"], check["min_age"]) == (True, 18)


async def test_under_age_and_unknown_issuer_are_refused_in_the_customers_language(
    tmp_path: Path, page: CdpPage
) -> None:
    async with wallet_locker(tmp_path) as locker:
        await open_kiosk(page, f"{locker.running.url}/?lang=de")
        await type_code(page, locker.order.code)
        await wait_for_result(page, "Altersnachweis")

        locker.show_wallet(locker.wallet(16), seed=3)
        text = await wait_for_result(page, "Ausweisprüfung", within_s=15)
        assert "nicht bestanden" in text
        detail = await page.evaluate("document.getElementById('result-detail').textContent")
        assert "Serviceschalter" in detail
        assert locker.running.sim.pulses == []
        locker.camera.show_nothing()

        # a wallet whose issuer the locker does not trust (a 30-year-old: the age is not it)
        stranger = await asyncio.to_thread(SimulatedIssuer, now=time.time(), name="Stranger")
        await page.evaluate("document.getElementById('result-text').textContent = ''")
        await type_code(page, locker.order.code)
        await wait_for_result(page, "Altersnachweis")
        locker.show_wallet(locker.wallet(30, issuer=stranger), seed=4)
        await wait_for_result(page, "nicht bestanden", within_s=15)
        assert locker.running.sim.pulses == []
        assert await _state(locker) == "loaded"
        assert [c["reason"] for c in await _checks(locker)] == ["UNDER_AGE", "ISSUER_UNTRUSTED"]


async def test_a_camera_read_token_also_leads_to_the_wallet(tmp_path: Path, page: CdpPage) -> None:
    async with wallet_locker(tmp_path) as locker:
        await open_kiosk(page, f"{locker.running.url}/?lang=fr")
        assert locker.order.token is not None
        locker.camera.show_payload(locker.order.token, carrier="paper", seed=5)
        await wait_for_result(page, "preuve d", within_s=15)
        locker.show_wallet(locker.wallet(40), seed=6)
        await wait_for_result(page, f"porte {locker.order.door}", within_s=15)
        assert locker.running.sim.pulses == [locker.order.door]


async def test_a_wallet_without_a_code_first_and_cancel(tmp_path: Path, page: CdpPage) -> None:
    async with wallet_locker(tmp_path) as locker:
        await open_kiosk(page, locker.running.url)
        wallet = locker.wallet(25)
        locker.show_wallet(wallet, seed=7)
        await wait_for_result(page, "type your pickup code first", within_s=15)
        assert wallet.requested == []  # nobody asked the wallet anything
        locker.camera.show_nothing()
        await type_code(page, locker.order.code)
        await wait_for_result(page, "needs a proof of age")
        await page.click("#wallet-cancel")
        await wait_for_result(page, "cancelled")
        assert await is_shown(page, "code-form")
        assert locker.running.sim.pulses == []


async def test_a_locker_without_a_wallet_reader(tmp_path: Path, page: CdpPage) -> None:
    """No wallet link: the 18+ refusal stays "ID check at the counter", a wallet QR is answered
    "can't be done right now", and nobody is asked anything."""
    fleet = await asyncio.to_thread(
        create_demo_fleet, tmp_path / "fleet", "LK-DEMO-001", time.time()
    )
    camera = SimulatedCamera(fps=20)
    camera.show_nothing()
    running = await start_agent(tmp_path / "data", fleet=fleet, camera=camera, seed=False)
    try:
        agent = running.agent
        (order,) = await agent.db.run(
            seed_orders,
            agent.typed_code_secret,
            now=running.clock.now(),
            hold_s=86400.0,
            fleet=fleet,
            orders=DEMO_AGE_ORDERS,
        )
        await open_kiosk(page, running.url)
        await type_code(page, order.code)
        await wait_for_result(page, "service counter")
        assert not await is_shown(page, "wallet")
        issuer = await asyncio.to_thread(SimulatedIssuer, now=time.time())
        today = datetime.fromtimestamp(running.clock.now(), UTC).date()
        phone = SimulatedWallet(
            issuer.issue_pid(
                person_aged(30, today=today, given="No", family="Reader"), now=time.time()
            )
        )
        camera.show_payload(phone.qr, carrier="phone", seed=9)
        await wait_for_result(page, "can't be done right now", within_s=15)
        assert phone.requested == []
        assert running.sim.pulses == []
    finally:
        await running.close()
