"""A person types a pickup code on the kiosk in a real browser against a running agent."""

from __future__ import annotations

from tests.agent.conftest import RunningAgent
from tests.browser.cdp import CdpPage
from tests.browser.kiosk import (
    BROWSER_TESTS,
    RESULT_TEXT,
    is_shown,
    open_kiosk,
    type_code,
    visible_text,
    wait_for_result,
)

pytestmark = BROWSER_TESTS


async def test_a_typed_code_opens_its_door_once_and_refusals_are_plain_words(
    locker: RunningAgent, page: CdpPage
) -> None:
    order = locker.orders[0]
    await open_kiosk(page, locker.url)
    assert await page.evaluate("document.activeElement.id") == "code"  # type at once
    live = await page.evaluate(
        "(() => { const r = document.getElementById('result'); "
        "return [r.getAttribute('role'), r.getAttribute('aria-live')]; })()"
    )
    assert live == ["status", "assertive"]

    await type_code(page, order.code)
    assert await wait_for_result(page, f"Door {order.door} is open") == (
        f"Door {order.door} is open"
    )
    assert locker.sim.pulses == [order.door]
    assert await is_shown(page, "not-open")
    assert await page.evaluate("document.getElementById('code').value") == ""

    locker.sim.close_door(order.door)  # closed too soon: within the grace the code reopens it
    await type_code(page, order.code)
    await wait_for_result(page, f"Door {order.door} is open again")
    assert locker.sim.pulses == [order.door, order.door]

    locker.clock.advance(61)  # past the reopen grace period: the code is spent
    await type_code(page, order.code)
    assert (await wait_for_result(page, "Already used")).startswith("Already used.")
    assert locker.sim.pulses == [order.door, order.door]
    assert not await is_shown(page, "not-open")

    await type_code(page, "ZZZZ-ZZZZ")
    await wait_for_result(page, "wasn't recognised")
    assert await page.evaluate("document.getElementById('code').getAttribute('aria-invalid')") == (
        "true"
    )
    text = await visible_text(page)
    for leak in ("Traceback", "{", '"error"', "CODE_UNKNOWN", "ALREADY_USED"):
        assert leak not in text
    assert page.exceptions == []


async def test_the_kiosk_tells_when_the_opened_door_is_closed(
    locker: RunningAgent, page: CdpPage
) -> None:
    order = locker.orders[1]
    await open_kiosk(page, locker.url)
    await type_code(page, order.code)
    await wait_for_result(page, f"Door {order.door} is open")
    await page.wait_for("document.getElementById('result').dataset.door === 'open'")

    locker.sim.close_door(order.door)
    await wait_for_result(page, f"Door {order.door} is closed. Thank you!")
    assert not await is_shown(page, "not-open")


async def test_my_door_did_not_open_reports_a_jam_with_the_same_code(
    locker: RunningAgent, page: CdpPage
) -> None:
    order = locker.orders[0]
    locker.sim.faults(order.door).jammed = True  # the latch clicks, the door stays shut
    await open_kiosk(page, locker.url)
    await type_code(page, order.code)
    await wait_for_result(page, f"Door {order.door} is open")

    # by keyboard alone: from the code field, past "Open my door", to the help button
    await page.press("Tab")
    await page.press("Tab")
    assert await page.evaluate("document.activeElement.id") == "not-open"
    await page.press("Enter")
    text = await wait_for_result(page, "didn't open")
    assert text.startswith(f"Door {order.door} didn't open. Your parcel is safe")
    assert "(ref E-" in text

    status, body = await locker.get(f"/api/v1/doors/{order.door}/state")
    assert (status, body["state"]) == (200, "jammed")
    assert not await is_shown(page, "not-open")


async def test_a_jam_seen_by_the_door_sensor_is_shown_without_asking(
    locker: RunningAgent, page: CdpPage
) -> None:
    order = locker.orders[2]
    locker.sim.faults(order.door).jammed = True
    await open_kiosk(page, locker.url)
    await type_code(page, order.code)
    await wait_for_result(page, f"Door {order.door} is open")
    # the sensor says closed, but a door never seen open is not "closed, thank you"
    await page.wait_for("document.getElementById('result').dataset.door === 'closed'")
    assert "Thank you" not in await page.evaluate(RESULT_TEXT)

    locker.clock.advance(6)  # past the supervisor's jam timeout
    text = await wait_for_result(page, "didn't open")
    assert text.startswith(f"Door {order.door} didn't open.")


async def test_an_empty_code_asks_for_one_without_calling_the_agent(
    locker: RunningAgent, page: CdpPage
) -> None:
    await open_kiosk(page, locker.url)
    await type_code(page, "   ")
    await wait_for_result(page, "Please type your code.")
    assert locker.sim.pulses == []
