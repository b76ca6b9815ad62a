"""README's walkthrough on the real demo: a pickup ends with "closed, thank you" because the
simulated doors close by themselves; the code reopens the door within the grace period; the demo's
camera buttons show how an expired and a forged token are refused; a courier signs in with the
printed PIN, loads the printed parcel and confirms once the door has shut."""

from __future__ import annotations

import json
from pathlib import Path

from tests.browser.cdp import CdpPage
from tests.browser.demo import running_demo
from tests.browser.kiosk import BROWSER_TESTS, open_kiosk, type_code, wait_for_result
from tests.browser.staff import (
    fill,
    open_screen,
    sign_in_by_pointer,
    signed_in,
    wait_for_message,
)

pytestmark = BROWSER_TESTS


async def click_demo_button(page: CdpPage, starts_with: str) -> None:
    index = await page.wait_for(
        "(() => { const b = [...document.querySelectorAll('#demo-buttons button')]; "
        f"const i = b.findIndex((x) => x.textContent.startsWith({json.dumps(starts_with)})); "
        "return i >= 0 && i + 1; })()"
    )
    await page.evaluate("document.getElementById('demo').open = true")
    await page.click(f"#demo-buttons button:nth-child({index})")


async def test_the_demo_walkthrough(tmp_path: Path, page: CdpPage) -> None:
    async with running_demo(tmp_path / "demo", door_close_s=3.0) as demo:
        order = demo.orders[0]
        await open_kiosk(page, demo.url)
        await type_code(page, order["code"])
        await wait_for_result(page, f"Door {order['door']} is open")
        # nobody closes it: the simulated door shuts by itself
        await wait_for_result(page, f"Door {order['door']} is closed. Thank you!", within_s=8)

        await type_code(page, order["code"])  # closed too soon? within the grace it reopens
        await wait_for_result(page, f"Door {order['door']} is open again")

        await click_demo_button(page, "Expired token: show phone")
        await wait_for_result(page, "This code has expired", within_s=15)
        await click_demo_button(page, "Take it away")
        await click_demo_button(page, "Forged token: show phone")
        text = await wait_for_result(page, "can't be accepted", within_s=15)
        assert "(ref -)" not in text

        await open_screen(page, demo.url + "/courier")
        await sign_in_by_pointer(page, demo.pins["courier"])
        assert await signed_in(page) == "Signed in: demo-courier (courier)"
        await fill(page, "label", demo.courier_label)
        await page.click("#load-form button[type=submit]")
        text = await wait_for_message(page, "Put the parcel in door")
        door = text.split("door ")[1].split(" ")[0]
        await page.click("#confirm")  # too early: the door is still open
        await wait_for_message(page, "Close the door firmly")
        await page.wait_for("new Promise((ok) => setTimeout(() => ok(true), 3500))", within_s=6)
        await page.click("#confirm")
        await wait_for_message(page, f"Parcel loaded in door {door}.")


async def test_the_demo_18_plus_order_with_the_simulated_wallet_buttons(
    tmp_path: Path, page: CdpPage
) -> None:
    """The demo's wallet buttons put a simulated phone's QR in front of the simulated camera;
    the kiosk's wallet screen and the real holder implementation do the rest."""
    async with running_demo(tmp_path / "demo") as demo:
        order = demo.age_order
        await open_kiosk(page, demo.url)
        await type_code(page, order["code"])
        await wait_for_result(page, "needs a proof of age")
        await click_demo_button(page, "Wallet of a 16-year-old")
        await wait_for_result(page, "did not pass", within_s=20)
        await type_code(page, order["code"])
        await wait_for_result(page, "needs a proof of age")
        await click_demo_button(page, "Wallet from an unknown issuer")
        await wait_for_result(page, "did not pass", within_s=20)
        await type_code(page, order["code"])
        await wait_for_result(page, "needs a proof of age")
        await click_demo_button(page, "Wallet of a 25-year-old")
        await wait_for_result(page, f"Door {order['door']} is open", within_s=20)
