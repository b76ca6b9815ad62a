"""Signed tokens: shown to the (simulated) camera the kiosk shows the outcome without any typing;
a courier signs in on /courier with a hub-issued token."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

from agent.tokens.claims import Purpose
from hardware.camera.sim import SimulatedCamera
from provisioning.fleet import create_demo_fleet
from tests.agent.conftest import start_agent
from tests.browser.cdp import CdpPage
from tests.browser.kiosk import BROWSER_TESTS, is_shown, open_kiosk, wait_for_result
from tests.browser.staff import fill, open_screen, signed_in, wait_for_message

pytestmark = BROWSER_TESTS


async def test_a_camera_scan_appears_on_the_kiosk(tmp_path: Path, page: CdpPage) -> None:
    fleet = await asyncio.to_thread(
        create_demo_fleet, tmp_path / "fleet", "LK-DEMO-001", time.time()
    )
    camera = SimulatedCamera(fps=20)
    camera.show_nothing()
    locker = await start_agent(tmp_path / "data", fleet=fleet, camera=camera)
    try:
        order = locker.orders[0]
        assert order.token is not None
        await open_kiosk(page, locker.url)

        camera.show_payload(order.token, carrier="phone", seed=3)
        assert await wait_for_result(page, "is open", within_s=10) == (f"Door {order.door} is open")
        assert locker.sim.pulses == [order.door]
        assert await page.evaluate("document.getElementById('code').value") == ""
        # the door opened (the sensor saw it): a report would only say so
        assert await is_shown(page, "not-open")

        camera.show_nothing()
        other = locker.orders[1]
        assert other.token is not None
        await page.click("#languages button[data-lang=de]")
        camera.show_payload(other.token, carrier="paper", seed=4)
        await wait_for_result(page, f"Fach {other.door} ist offen", within_s=10)
        assert locker.sim.pulses == [order.door, other.door]
    finally:
        await locker.close()


async def test_a_return_token_shown_to_the_camera_gives_a_receipt(
    tmp_path: Path, page: CdpPage
) -> None:
    fleet = await asyncio.to_thread(
        create_demo_fleet, tmp_path / "fleet", "LK-DEMO-001", time.time()
    )
    camera = SimulatedCamera(fps=20)
    camera.show_nothing()
    locker = await start_agent(tmp_path / "data", fleet=fleet, camera=camera)
    try:
        token = fleet.mint_pickup(
            "ORD-RET-CAM", now=locker.clock.now(), hold_s=86400, purpose=Purpose.RETURN
        )
        await open_kiosk(page, locker.url + "/?lang=de")
        camera.show_payload(token, carrier="phone", seed=5)
        await wait_for_result(page, "ist offen", within_s=10)
        receipt = await page.evaluate("document.getElementById('result').dataset.receipt")
        assert receipt.startswith("R-")
        detail = await page.evaluate("document.getElementById('result-detail').textContent")
        assert detail.endswith(f"Ihr Beleg: {receipt}")
        assert not await is_shown(page, "not-open")
    finally:
        await locker.close()


async def test_after_a_camera_pickup_my_door_did_not_open_reports_the_jam(
    tmp_path: Path, page: CdpPage
) -> None:
    fleet = await asyncio.to_thread(
        create_demo_fleet, tmp_path / "fleet", "LK-DEMO-001", time.time()
    )
    camera = SimulatedCamera(fps=20)
    camera.show_nothing()
    locker = await start_agent(tmp_path / "data", fleet=fleet, camera=camera)
    try:
        order = locker.orders[1]
        assert order.token is not None
        locker.sim.faults(order.door).jammed = True  # the latch clicks, the door stays shut
        await open_kiosk(page, locker.url)
        camera.show_payload(order.token, carrier="phone", seed=6)
        await wait_for_result(page, f"Door {order.door} is open", within_s=10)
        camera.show_nothing()
        assert await is_shown(page, "not-open")  # the outcome carries a one-time help ticket
        await page.click("#not-open")
        text = await wait_for_result(page, "didn't open")
        assert text.startswith(f"Door {order.door} didn't open. Your parcel is safe")
        status, body = await locker.get(f"/api/v1/doors/{order.door}/state")
        assert (status, body["state"]) == (200, "jammed")

        # the ticket is for that one pickup: a made-up one is refused
        status, body = await locker.post("/api/v1/pickup/door-did-not-open", {"ticket": "x" * 22})
        assert (status, body["error"]) == (409, "GRACE_EXPIRED")
    finally:
        await locker.close()


async def test_a_courier_signs_in_with_a_hub_issued_token(tmp_path: Path, page: CdpPage) -> None:
    fleet = await asyncio.to_thread(
        create_demo_fleet, tmp_path / "fleet", "LK-DEMO-001", time.time()
    )
    locker = await start_agent(tmp_path / "data", fleet=fleet)
    try:
        token = fleet.mint_pickup(
            "courier-42", now=locker.clock.now(), hold_s=3600, purpose=Purpose.COURIER
        )
        await open_screen(page, locker.url + "/courier?lang=pl")
        await fill(page, "token", token)
        await page.click("#sign-in-form button[type=submit]")
        assert await signed_in(page) == "Zalogowano: courier-42 (kurier)"
        await page.click("#sign-out")
        await page.wait_for("!document.getElementById('sign-in-view').hidden")
        await fill(page, "token", token[:-4] + "AAAA")  # a token that was tampered with
        await page.click("#sign-in-form button[type=submit]")
        await wait_for_message(page, "Nie przyjęto tego PIN-u ani tokenu.")
    finally:
        await locker.close()
