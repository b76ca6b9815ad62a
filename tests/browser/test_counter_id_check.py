"""The counter screen's ID buttons (issue 15 item 5) in real Chromium: "Check ID document" reads
the MRZ in the counter camera's current frame, "Check wallet" a customer's wallet; the findings
assist, and staff still record the outcome with the ID check buttons."""

from __future__ import annotations

from pathlib import Path

from agent.domain.orders import OrderPolicy
from tests.agent.ops.conftest import STAFF_PIN
from tests.browser.cdp import CdpPage
from tests.browser.kiosk import AUDIT_JS, BROWSER_TESTS
from tests.browser.staff import (
    fill,
    open_screen,
    sign_in_by_pointer,
    signed_in,
    wait_for_message,
)
from tests.identity.counter_camera import camera_counter
from tests.identity.test_id_assist import PASSPORT

pytestmark = BROWSER_TESTS

FINDINGS = "document.getElementById('id-findings').innerText"


async def findings(page: CdpPage, contains: str) -> str:
    text: str = await page.wait_for(
        f"(() => {{ const t = {FINDINGS}; return t.includes({contains!r}) && t; }})()",
        within_s=20,
    )
    return text


async def test_staff_check_a_passport_and_a_wallet_then_confirm(
    tmp_path: Path, page: CdpPage
) -> None:
    async with camera_counter(tmp_path) as counter:
        code = await counter.ops.announce("ORD-CB1", policy=OrderPolicy(min_age=18))
        await counter.ops.staff_post("/api/v1/counter/receive", {"label": "PCL:ORD-CB1:P1"})
        await open_screen(page, f"{counter.ops.url}/counter?lang=en")
        await sign_in_by_pointer(page, STAFF_PIN)
        await signed_in(page)
        await fill(page, "code", code)
        await fill(page, "label", "PCL:ORD-CB1:P1")
        await page.click("#handout-form button[type=submit]")
        await wait_for_message(page, "ID check")
        assert await page.evaluate(AUDIT_JS) == []

        await counter.show_mrz(PASSPORT, 3)
        await page.click("#id-document")
        text = await findings(page, "Passport")
        assert "Check digits correct" in text
        assert "Aged 18 or over: yes" in text
        await wait_for_message(page, "Compare the photo")

        counter.show_wallet(16)
        await counter.show_nothing()  # the QR is gone again: the frame has nothing
        await page.click("#id-wallet")
        await wait_for_message(page, "Couldn't read")

        counter.show_wallet(16)
        await page.wait_for("new Promise((ok) => setTimeout(() => ok(true), 400))")
        await page.click("#id-wallet")
        assert "UNDER_AGE" in await findings(page, "Wallet NOT accepted")

        await page.click("#languages button[data-lang=de]")
        await findings(page, "Wallet NICHT akzeptiert")
        counter.show_wallet(30)
        await page.wait_for("new Promise((ok) => setTimeout(() => ok(true), 400))")
        await page.click("#id-wallet")
        await findings(page, "Wallet geprüft: mindestens 18 Jahre alt")
        assert counter.ops.sim.pulses == []  # nothing handed out by the assist

        await page.click("[data-id-check=passed]")
        await page.wait_for("document.getElementById('id-check').hidden")
        status, _ = await counter.ops.staff_post(
            "/api/v1/counter/handout", {"code": code, "label": "PCL:ORD-CB1:P1"}
        )
        assert status == 409  # handed out already: the order is collected
