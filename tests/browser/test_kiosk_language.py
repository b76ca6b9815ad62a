"""Language switch and the inactivity reset, in a real browser against a running agent."""

from __future__ import annotations

import asyncio

from tests.agent.conftest import RunningAgent
from tests.browser.cdp import CdpPage
from tests.browser.kiosk import (
    BROWSER_TESTS,
    RESULT_TEXT,
    open_kiosk,
    type_code,
    wait_for_result,
)

pytestmark = BROWSER_TESTS

LABELS = """(() => ({
  lang: document.documentElement.lang,
  title: document.getElementById('title').textContent,
  label: document.querySelector('label[for=code]').textContent,
  button: document.getElementById('submit').textContent,
  pressed: document.querySelector('#languages [aria-pressed=true]').textContent,
}))()"""


async def test_german_changes_the_labels_and_the_door_message(
    locker: RunningAgent, page: CdpPage
) -> None:
    order = locker.orders[0]
    await open_kiosk(page, locker.url)
    assert (await page.evaluate(LABELS))["title"] == "Collect your parcel"

    await page.click("#languages button[data-lang=de]")
    assert await page.evaluate(LABELS) == {
        "lang": "de",
        "title": "Paket abholen",
        "label": "Abholcode",
        "button": "Fach öffnen",
        "pressed": "Deutsch",
    }
    await type_code(page, order.code)
    assert await wait_for_result(page, "ist offen") == f"Fach {order.door} ist offen"
    assert await page.evaluate("document.getElementById('result-door-label').textContent") == (
        "Fach"
    )

    await type_code(page, "ZZZZ-ZZZZ")
    await wait_for_result(page, "Dieser Code wurde nicht erkannt")


async def test_an_idle_kiosk_forgets_the_last_customer(locker: RunningAgent, page: CdpPage) -> None:
    await open_kiosk(page, locker.url + "/?idle=1")
    await page.click("#languages button[data-lang=pl]")
    await type_code(page, "ZZZZ-ZZZZ")
    await wait_for_result(page, "Nie rozpoznano kodu")

    await page.wait_for(
        f"{RESULT_TEXT} === '' && document.documentElement.lang === 'en'"
        " && document.getElementById('code').value === ''",
        within_s=5,
    )
    assert await page.evaluate("document.activeElement.id") == "code"


async def test_no_reset_while_the_opened_door_is_still_open(
    locker: RunningAgent, page: CdpPage
) -> None:
    order = locker.orders[1]
    await open_kiosk(page, locker.url + "/?idle=1")
    await type_code(page, order.code)
    await wait_for_result(page, f"Door {order.door} is open")
    await page.wait_for("document.getElementById('result').dataset.door === 'open'")
    await asyncio.sleep(2.5)  # over twice the idle time: the person is at the door
    assert await page.evaluate(RESULT_TEXT) == f"Door {order.door} is open"

    locker.sim.close_door(order.door)
    await wait_for_result(page, "Thank you")
    await page.wait_for(f"{RESULT_TEXT} === ''", within_s=5)
