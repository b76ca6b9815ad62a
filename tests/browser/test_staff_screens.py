"""The staff screens in a real browser, by pointer alone: a courier loads, moves and confirms a
parcel and takes out a return; counter staff hand out a parcel with its ID check and accept a
return; a technician opens, disables and clears a door. Sign-in errors are role-specific."""

from __future__ import annotations

import random

from agent.domain.doors import DoorSize
from agent.domain.orders import OrderPolicy, OrderState
from agent.tokens.typed_codes import display_code, new_typed_code
from tests.agent.ops.conftest import COURIER_PIN, STAFF_PIN, OpsAgent
from tests.browser.cdp import CdpPage
from tests.browser.kiosk import AUDIT_JS, BROWSER_TESTS, NO_SIDEWAYS_SCROLL_JS
from tests.browser.staff import (
    MESSAGE,
    fill,
    open_screen,
    sign_in_by_pointer,
    signed_in,
    wait_for_message,
)

pytestmark = BROWSER_TESTS

SIGN_IN_SHOWN = "!document.getElementById('sign-in-view').hidden"


async def test_a_courier_loads_moves_and_confirms_a_parcel(
    ops_locker: OpsAgent, page: CdpPage
) -> None:
    ops = ops_locker
    await ops.announce("ORD-SCR1", DoorSize.S)
    await open_screen(page, ops.url + "/courier")
    await sign_in_by_pointer(page, COURIER_PIN)
    assert await signed_in(page) == "Signed in: courier-7 (courier)"
    assert await page.evaluate(AUDIT_JS) == []

    await fill(page, "label", "PCL:ORD-SCR1:P1")
    await page.click("#load-form button[type=submit]")
    await wait_for_message(page, "Put the parcel in door")
    first = ops.sim.pulses[-1]
    assert await page.evaluate(MESSAGE) == f"Put the parcel in door {first} (size S) and close it."

    await page.click("#too-small")  # the parcel does not fit: the next size up
    await wait_for_message(page, "(size M)")
    second = ops.sim.pulses[-1]
    assert second != first

    await page.click("#confirm")  # the door is still open
    await wait_for_message(page, "Close the door firmly, then confirm.")
    ops.sim.close_door(first)
    ops.sim.close_door(second)
    await page.click("#confirm")
    await wait_for_message(page, f"Parcel loaded in door {second}.")
    assert (await ops.order("ORD-SCR1")).state is OrderState.LOADED
    assert await page.evaluate("document.getElementById('ticket').hidden")


async def test_a_courier_finishes_a_load_nobody_confirmed_and_takes_out_a_return(
    ops_locker: OpsAgent, page: CdpPage
) -> None:
    ops = ops_locker
    await ops.announce("ORD-SCR2", DoorSize.S)
    left = await ops.load("PCL:ORD-SCR2:P1")  # another courier's session ended mid-load
    door = int(str(left["door"]))
    ops.sim.close_door(door)
    returns = ops.agent.returns
    assert returns is not None
    grant = await returns.start_return_dropoff(
        "ORD-RET-SCR", DoorSize.M, now=ops.clock.now(), via="token"
    )
    assert grant.door is not None
    ops.sim.close_door(grant.door)

    await open_screen(page, ops.url + "/courier?lang=de")
    await sign_in_by_pointer(page, COURIER_PIN)
    await signed_in(page)
    await page.wait_for(f"!!document.querySelector('#pending li[data-load=\"{left['load']}\"]')")
    await page.click(f'#pending li[data-load="{left["load"]}"] button.primary')
    await wait_for_message(page, f"Paket in Fach {door} eingelegt.")
    assert (await ops.order("ORD-SCR2")).state is OrderState.LOADED

    item = f'#pickups li[data-door="{grant.door}"]'
    text = await page.wait_for(f"document.querySelector('{item}')?.textContent")
    assert f"Rücksendung ORD-RET-SCR in Fach {grant.door}" in text
    await page.click(f"{item} button")
    await wait_for_message(page, f"Fach {grant.door} ist offen: Paket entnehmen.")
    assert ops.sim.pulses[-1] == grant.door


async def test_counter_staff_hand_out_with_an_id_check_and_accept_a_return(
    ops_counter: OpsAgent, page: CdpPage
) -> None:
    ops = ops_counter
    code = await ops.announce("ORD-IDS", policy=OrderPolicy(id_check_required=True))
    back = new_typed_code(random.Random(5))
    await ops.agent.db.run(
        lambda conn: conn.execute(
            "INSERT INTO returns (order_ref, size, state, code_key, created_at, updated_at)"
            " VALUES ('ORD-BACK', 'S', 'expected', ?, 0, 0)",
            (ops.code_key(back),),
        )
    )
    await open_screen(page, ops.url + "/counter?lang=fr")
    await sign_in_by_pointer(page, STAFF_PIN)
    await signed_in(page)
    assert await page.evaluate("document.title") == "Guichet — colis"

    await fill(page, "receive-label", "PCL:ORD-IDS:P1")
    await page.click("#receive-form button[type=submit]")
    await wait_for_message(page, "Colis de ORD-IDS réceptionné.")

    await fill(page, "code", code)
    await fill(page, "label", "PCL:ORD-IDS:P1")
    await page.click("#handout-form button[type=submit]")
    await wait_for_message(page, "contrôle d'identité")
    assert not await page.evaluate("document.getElementById('id-check').hidden")
    assert await page.evaluate(AUDIT_JS) == []
    await page.click("[data-id-check=passed]")
    await wait_for_message(page, "Remettez le colis.")
    assert (await ops.order("ORD-IDS")).state is OrderState.COLLECTED
    assert await page.evaluate("document.getElementById('id-check').hidden")

    await fill(page, "return-code", display_code(back))
    await fill(page, "return-label", "PCL:ORD-BACK:P1")
    await page.click("#return-form button[type=submit]")
    text = await wait_for_message(page, "Retour accepté")
    receipt = await page.evaluate("document.getElementById('return-title').dataset.receipt")
    assert text == f"Retour accepté. Reçu : {receipt}"
    assert receipt.startswith("R-")


async def test_a_technician_opens_disables_and_clears_a_door(
    ops_locker: OpsAgent, page: CdpPage
) -> None:
    ops = ops_locker
    await ops.agent.db.run(
        lambda conn: conn.execute("UPDATE doors SET fault = 'jammed' WHERE number = 3")
    )
    await open_screen(page, ops.url + "/staff")
    await sign_in_by_pointer(page, STAFF_PIN)
    await signed_in(page)
    await page.wait_for("document.documentElement.dataset.loaded === 'yes'")
    assert await page.evaluate("document.querySelectorAll('#doors button.door').length") == 24
    card = await page.evaluate("document.querySelector('#doors [data-door=\"3\"]').textContent")
    assert "fault: jammed" in card
    facts = await page.evaluate("document.getElementById('work-view').innerText")
    for line in ("no hub configured", "No trust bundle installed.", "clock trusted", "camera off"):
        assert line in facts
    assert "No alarms." in facts
    assert await page.evaluate(AUDIT_JS) == []

    await page.click('#doors [data-door="5"]')
    await page.click("#open-door")
    await wait_for_message(page, "Please give a reason.")
    assert ops.sim.pulses == []
    await fill(page, "reason", "cleaning the compartment")
    await page.click("#open-door")
    await wait_for_message(page, "Door 5 opened.")
    assert ops.sim.pulses == [5]

    await page.click("#disable-door")
    await wait_for_message(page, "Door 5 is disabled.")
    await page.wait_for(
        "document.querySelector('#doors [data-door=\"5\"]').dataset.state === 'disabled'"
    )
    await page.click("#enable-door")
    await wait_for_message(page, "Door 5 is in service.")

    await page.click('#doors [data-door="3"]')
    await page.click("#clear-fault")
    await wait_for_message(page, "Fault jammed cleared on door 3.")
    actions = [a for a, _ in await ops.audit_actions()]
    for action in (
        "staff.open_door",
        "staff.disable_door",
        "staff.enable_door",
        "staff.clear_fault",
    ):
        assert action in actions


async def test_sign_in_errors_say_which_sign_in_the_screen_needs(
    ops_locker: OpsAgent, page: CdpPage
) -> None:
    ops = ops_locker
    await open_screen(page, ops.url + "/staff")
    await sign_in_by_pointer(page, COURIER_PIN)
    assert await wait_for_message(page, "needs a staff sign-in") == (
        "This screen needs a staff sign-in. A courier PIN can't be used here."
    )
    assert await page.evaluate(SIGN_IN_SHOWN)
    await sign_in_by_pointer(page, "000000")
    await wait_for_message(page, "That PIN or token wasn't accepted.")

    await sign_in_by_pointer(page, STAFF_PIN)
    await signed_in(page)
    ops.clock.advance(1000)  # past the session's lifetime
    await page.click("#refresh")
    text = await wait_for_message(page, "Your sign-in has ended.")
    assert text.endswith("This screen needs a staff sign-in. A courier PIN can't be used here.")
    assert await page.evaluate(SIGN_IN_SHOWN)


async def test_an_idle_staff_screen_signs_out(ops_locker: OpsAgent, page: CdpPage) -> None:
    await open_screen(page, ops_locker.url + "/courier?idle=1&lang=pl")
    await sign_in_by_pointer(page, COURIER_PIN)
    await signed_in(page)
    await page.wait_for(SIGN_IN_SHOWN, within_s=5)
    assert await page.evaluate(MESSAGE) == "Wylogowano z powodu braku aktywności."

    # the maintenance screen refreshes itself every few seconds: that is not a person there
    await open_screen(page, ops_locker.url + "/staff?idle=6")
    await sign_in_by_pointer(page, STAFF_PIN)
    await signed_in(page)
    await page.wait_for(SIGN_IN_SHOWN, within_s=12)
    assert await page.evaluate(MESSAGE) == "Signed out after a period of inactivity."


async def test_staff_screens_reflow_at_320_css_px(ops_locker: OpsAgent, page: CdpPage) -> None:
    for path, pin in (("/courier", COURIER_PIN), ("/staff", STAFF_PIN)):
        await open_screen(page, ops_locker.url + path)
        await page.resize(320, 640)
        await sign_in_by_pointer(page, pin)
        await signed_in(page)
        for lang in ("en", "de", "pl", "fr"):
            await page.click(f"#languages button[data-lang={lang}]")
            assert await page.evaluate(NO_SIDEWAYS_SCROLL_JS), (path, lang)
        await page.click("#sign-out")
        await page.wait_for(SIGN_IN_SHOWN)
        assert await page.evaluate(NO_SIDEWAYS_SCROLL_JS), path
