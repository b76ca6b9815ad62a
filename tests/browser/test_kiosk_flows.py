"""The customer kiosk by pointer alone: keypad pickup, where the door is, returns with a receipt,
the progress indicator, "more time?" before the idle reset, and 320 px reflow."""

from __future__ import annotations

import random

from agent.domain.doors import DoorSize
from agent.tokens.typed_codes import code_lookup_key, display_code, new_typed_code
from tests.agent.conftest import RunningAgent
from tests.browser.cdp import CdpPage
from tests.browser.kiosk import (
    BROWSER_TESTS,
    NO_SIDEWAYS_SCROLL_JS,
    RECORD_SPEECH_JS,
    RESULT_TEXT,
    is_shown,
    open_kiosk,
    press_keypad,
    spoken,
    type_code,
    wait_for_result,
)

pytestmark = BROWSER_TESTS

WHERE = "document.getElementById('where-text').textContent"
MARKED = "document.querySelector('#door-map .here').textContent"


def row_of(door: int) -> int:
    """The default layout: three columns (S, M, L) of eight doors, the last two low."""
    return (door - 1) % 8


async def expect_return(locker: RunningAgent, order_ref: str) -> str:
    """The hub announces a return with a typed code; returns the code as a customer reads it."""
    code = new_typed_code(random.Random(order_ref))
    returns = locker.agent.returns
    assert returns is not None
    key = code_lookup_key(code, locker.agent.typed_code_secret)
    await returns.expect(order_ref, DoorSize.S, key)
    return display_code(code)


async def test_a_pickup_by_pointer_alone_on_the_keypad_shows_where_the_door_is(
    locker: RunningAgent, page: CdpPage
) -> None:
    order = next(o for o in locker.orders if row_of(o.door) >= 6)  # the accessible order: low
    await open_kiosk(page, locker.url)
    await press_keypad(page, order.code)
    assert await page.evaluate("document.getElementById('code').value") == order.code
    await page.click("#keypad button[data-key=delete]")
    await press_keypad(page, order.code[-1])
    await page.click("#submit")
    await wait_for_result(page, f"Door {order.door} is open")
    assert locker.sim.pulses == [order.door]
    assert await page.evaluate("document.getElementById('code').value") == ""
    assert await page.evaluate(WHERE) == "Column 1 of 3, lower row."
    assert await page.evaluate(MARKED) == str(order.door)
    assert await page.evaluate("document.querySelectorAll('#door-map .map-door').length") == 24


async def test_the_keypad_and_the_keyboard_share_the_field(
    locker: RunningAgent, page: CdpPage
) -> None:
    order = locker.orders[0]
    await open_kiosk(page, locker.url)
    await press_keypad(page, order.code[:4])
    assert await page.evaluate("document.activeElement.id") == "code"  # the keys keep the caret
    await page.type_text(order.code[4:])
    await page.press("Enter")
    await wait_for_result(page, f"Door {order.door} is open")
    expected = "top row" if row_of(order.door) == 0 else f"row {row_of(order.door) + 1} from"
    assert expected in await page.evaluate(WHERE)


async def test_a_return_by_typed_code_opens_a_door_and_shows_and_speaks_the_receipt(
    locker: RunningAgent, page: CdpPage
) -> None:
    code = await expect_return(locker, "ORD-RET-KIOSK")
    await open_kiosk(page, locker.url)
    await page.evaluate(RECORD_SPEECH_JS)
    await page.click("#mode-return")
    assert await page.evaluate("document.getElementById('title').textContent") == (
        "Return a parcel"
    )
    assert await page.evaluate("document.getElementById('submit').textContent") == (
        "Open a door for my return"
    )
    await press_keypad(page, code)
    await page.click("#submit")
    await wait_for_result(page, "is open")
    door = locker.sim.pulses[-1]
    receipt = await page.evaluate("document.getElementById('result').dataset.receipt")
    assert receipt.startswith("R-")
    detail = await page.evaluate("document.getElementById('result-detail').textContent")
    assert detail == f"Put your return in and close the door. Your receipt: {receipt}"
    assert any(receipt in s["text"] and s["lang"] == "en" for s in await spoken(page))
    assert "Column" in await page.evaluate(WHERE)

    await page.click("#languages button[data-lang=pl]")  # the receipt stays, in Polish
    detail = await page.evaluate("document.getElementById('result-detail').textContent")
    assert detail == f"Włóż zwrot i zamknij drzwiczki. Twoje potwierdzenie: {receipt}"
    assert any(receipt in s["text"] and s["lang"] == "pl" for s in await spoken(page))

    await page.wait_for("document.getElementById('result').dataset.door === 'open'")
    locker.sim.close_door(door)
    await wait_for_result(page, "zamknięta")


async def test_a_progress_indicator_shows_while_the_code_is_checked(
    locker: RunningAgent, page: CdpPage
) -> None:
    order = locker.orders[1]
    locker.sim.faults(order.door).relay_delay_s = 1.5  # a slow relay keeps the check going
    await open_kiosk(page, locker.url)
    await type_code(page, order.code)
    busy = await page.wait_for(
        "(() => { const r = document.getElementById('result'); "
        "return r.className === 'busy' && r.getAttribute('aria-busy') === 'true' "
        "&& document.getElementById('progress').getClientRects().length > 0 "
        "&& document.getElementById('result-text').textContent; })()"
    )
    assert busy == "Checking…"
    await wait_for_result(page, f"Door {order.door} is open")
    assert not await is_shown(page, "progress")


async def test_more_time_is_offered_before_the_idle_reset(
    locker: RunningAgent, page: CdpPage
) -> None:
    await open_kiosk(page, locker.url + "/?idle=4")  # the warning comes 2 s before the reset
    await page.click("#languages button[data-lang=fr]")
    await type_code(page, "ZZZZ-ZZZZ")
    await wait_for_result(page, "Ce code n'a pas été reconnu")
    assert not await is_shown(page, "more-time")
    await page.wait_for("document.getElementById('more-time').hidden === false", within_s=4)
    title = await page.evaluate("document.getElementById('more-time-title').textContent")
    assert title == "Avez-vous besoin de plus de temps ?"
    await page.click("#more-time-yes")
    assert not await is_shown(page, "more-time")
    assert "Ce code" in await page.evaluate(RESULT_TEXT)  # nothing was cleared

    await page.wait_for("document.getElementById('more-time').hidden === false", within_s=4)
    await page.wait_for(
        f"{RESULT_TEXT} === '' && document.documentElement.lang === 'en'"
        " && document.getElementById('code').value === ''"
        " && document.getElementById('more-time').hidden",
        within_s=4,
    )


async def test_a_start_language_comes_from_the_address_and_the_reset_returns_to_it(
    locker: RunningAgent, page: CdpPage
) -> None:
    await open_kiosk(page, locker.url + "/?lang=pl&idle=2")
    assert await page.evaluate("[document.documentElement.lang, document.title]") == [
        "pl",
        "Automat paczkowy",
    ]
    await page.click("#languages button[data-lang=de]")
    assert await page.evaluate("[document.documentElement.lang, document.title]") == [
        "de",
        "Paketautomat",
    ]
    await page.wait_for("document.documentElement.lang === 'pl'", within_s=5)


async def test_switching_language_re_renders_the_outcome_on_screen(
    locker: RunningAgent, page: CdpPage
) -> None:
    order = locker.orders[0]
    await open_kiosk(page, locker.url)
    await page.evaluate(RECORD_SPEECH_JS)
    await type_code(page, "ZZZZ-ZZZZ")
    await wait_for_result(page, "wasn't recognised")
    assert "(ref" not in await page.evaluate(RESULT_TEXT)  # no reference: none shown
    await page.click("#languages button[data-lang=fr]")
    assert await page.evaluate(RESULT_TEXT) == (
        "Ce code n'a pas été reconnu — vérifiez-le et réessayez."
    )
    assert (await spoken(page))[-1]["lang"] == "fr"

    await type_code(page, order.code)
    await wait_for_result(page, f"La porte {order.door} est ouverte")
    await page.click("#languages button[data-lang=de]")
    assert await page.evaluate(RESULT_TEXT) == f"Fach {order.door} ist offen"
    assert (await page.evaluate(WHERE)).startswith("Spalte 1 von 3")
    assert await page.evaluate("document.getElementById('not-open').textContent") == (
        "Mein Fach ist nicht aufgegangen"
    )


async def test_at_320_css_px_nothing_scrolls_sideways_in_any_language(
    locker: RunningAgent, page: CdpPage
) -> None:
    order = locker.orders[2]
    await open_kiosk(page, locker.url)
    await page.resize(320, 640)
    await type_code(page, order.code)
    await wait_for_result(page, "is open")
    for lang in ("en", "de", "pl", "fr"):
        await page.click(f"#languages button[data-lang={lang}]")
        assert await page.evaluate(NO_SIDEWAYS_SCROLL_JS), lang
        await page.click("#mode-return")
        assert await page.evaluate(NO_SIDEWAYS_SCROLL_JS), lang
        await page.click("#mode-collect")
    await page.evaluate("document.getElementById('demo').open = true")
    assert await page.evaluate(NO_SIDEWAYS_SCROLL_JS)


async def test_reusable_packaging_goes_back_without_a_code(
    locker: RunningAgent, page: CdpPage
) -> None:
    await open_kiosk(page, locker.url + "/?lang=fr")
    assert not await is_shown(page, "packaging")  # only when returning
    await page.click("#mode-return")
    assert await page.evaluate("document.getElementById('packaging').textContent") == (
        "Rendre un emballage réutilisable (sans code)"
    )
    await page.click("#packaging")
    await wait_for_result(page, "est ouverte")
    receipt = await page.evaluate("document.getElementById('result').dataset.receipt")
    assert receipt.startswith("R-")
    assert len(locker.sim.pulses) == 1


async def test_a_new_customer_hears_where_the_keypad_is_and_each_key(
    locker: RunningAgent, page: CdpPage
) -> None:
    await open_kiosk(page, locker.url + "/?lang=de&idle=2")
    await page.evaluate(RECORD_SPEECH_JS)
    await press_keypad(page, "A7")
    said = [s["text"] for s in await spoken(page)]
    assert said[0].startswith("Halten Sie den QR-Code")
    assert "Tastenfeld in der Bildschirmmitte" in said[0]
    assert said[1:] == ["A", "7"]
    await page.click("#keypad button[data-key=delete]")
    assert (await spoken(page))[-1]["text"] == "Letztes Zeichen löschen"

    await page.wait_for("document.getElementById('code').value === ''", within_s=5)  # reset
    await page.evaluate("window.__spoken = []")
    await press_keypad(page, "B")
    assert [s["text"][:20] for s in await spoken(page)] == ["Halten Sie den QR-Co", "B"]
