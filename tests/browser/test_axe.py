"""axe-core on every screen in every language, in the states a person meets: 0 critical and 0
serious violations."""

from __future__ import annotations

import random

import pytest

from agent.domain.doors import DoorSize
from agent.domain.orders import OrderPolicy
from agent.tokens.typed_codes import code_lookup_key, display_code, new_typed_code
from tests.agent.conftest import RunningAgent
from tests.agent.ops.conftest import COURIER_PIN, STAFF_PIN, OpsAgent
from tests.browser.cdp import CdpPage
from tests.browser.kiosk import (
    AXE_TESTS,
    BROWSER_TESTS,
    axe_problems,
    open_kiosk,
    type_code,
    wait_for_result,
)
from tests.browser.staff import (
    fill,
    open_screen,
    sign_in_by_pointer,
    signed_in,
    wait_for_message,
)

pytestmark = [*BROWSER_TESTS, *AXE_TESTS]
LANGUAGES = ("en", "de", "pl", "fr")


async def check(page: CdpPage, state: str, found: dict[str, list[str]]) -> None:
    problems = await axe_problems(page)
    if problems:
        found[state] = problems


@pytest.mark.parametrize("lang", LANGUAGES)
async def test_the_kiosk(locker: RunningAgent, page: CdpPage, lang: str) -> None:
    found: dict[str, list[str]] = {}
    await open_kiosk(page, f"{locker.url}/?lang={lang}&idle=6")
    await check(page, "start", found)
    await type_code(page, "ZZZZ-ZZZZ")
    await wait_for_result(page, "", within_s=2)
    await page.wait_for("document.getElementById('result').className === 'err'")
    await check(page, "refused", found)
    await page.wait_for("!document.getElementById('more-time').hidden", within_s=8)
    await check(page, "more time?", found)
    await page.click("#more-time-yes")
    order = locker.orders[0]
    await type_code(page, order.code)
    await page.wait_for("document.getElementById('result-door-number').textContent !== ''")
    await page.wait_for("!document.getElementById('where').hidden")
    await check(page, "door open", found)
    locker.sim.close_door(order.door)
    code = new_typed_code(random.Random(lang))
    returns = locker.agent.returns
    assert returns is not None
    await returns.expect(
        f"ORD-AXE-{lang}", DoorSize.S, code_lookup_key(code, locker.agent.typed_code_secret)
    )
    await page.click("#mode-return")
    await check(page, "return mode", found)
    await type_code(page, display_code(code))
    await page.wait_for("document.getElementById('result').dataset.receipt")
    await check(page, "return receipt", found)
    await page.resize(320, 640)
    await check(page, "320 px", found)
    assert found == {}


@pytest.mark.parametrize("lang", LANGUAGES)
async def test_the_courier_screen(ops_locker: OpsAgent, page: CdpPage, lang: str) -> None:
    found: dict[str, list[str]] = {}
    await ops_locker.announce("ORD-AXE1", DoorSize.S)
    await open_screen(page, f"{ops_locker.url}/courier?lang={lang}")
    await check(page, "sign-in", found)
    await sign_in_by_pointer(page, "000000")
    await page.wait_for("document.getElementById('message').className === 'err'")
    await check(page, "wrong PIN", found)
    await sign_in_by_pointer(page, COURIER_PIN)
    await signed_in(page)
    await fill(page, "label", "PCL:ORD-AXE1:P1")
    await page.click("#load-form button[type=submit]")
    await page.wait_for("!document.getElementById('ticket').hidden")
    await check(page, "load ticket", found)
    assert found == {}


@pytest.mark.parametrize("lang", LANGUAGES)
async def test_the_counter_screen(ops_counter: OpsAgent, page: CdpPage, lang: str) -> None:
    found: dict[str, list[str]] = {}
    code = await ops_counter.announce("ORD-AXEID", policy=OrderPolicy(id_check_required=True))
    await ops_counter.staff_post("/api/v1/counter/receive", {"label": "PCL:ORD-AXEID:P1"})
    await open_screen(page, f"{ops_counter.url}/counter?lang={lang}")
    await check(page, "sign-in", found)
    await sign_in_by_pointer(page, STAFF_PIN)
    await signed_in(page)
    await check(page, "signed in", found)
    await fill(page, "code", code)
    await fill(page, "label", "PCL:ORD-AXEID:P1")
    await page.click("#handout-form button[type=submit]")
    await page.wait_for("!document.getElementById('id-check').hidden")
    await check(page, "ID check", found)
    assert found == {}


@pytest.mark.parametrize("lang", LANGUAGES)
async def test_the_maintenance_screen(ops_locker: OpsAgent, page: CdpPage, lang: str) -> None:
    found: dict[str, list[str]] = {}
    await ops_locker.agent.db.run(
        lambda conn: conn.execute("UPDATE doors SET fault = 'jammed' WHERE number = 3")
    )
    await open_screen(page, f"{ops_locker.url}/staff?lang={lang}")
    await sign_in_by_pointer(page, COURIER_PIN)
    await page.wait_for("document.getElementById('message').className === 'err'")
    await check(page, "courier refused", found)
    await sign_in_by_pointer(page, STAFF_PIN)
    await signed_in(page)
    await page.wait_for("document.documentElement.dataset.loaded === 'yes'")
    await check(page, "doors", found)
    await page.click('#doors [data-door="3"]')
    await page.click("#open-door")
    await wait_for_message(page, "", within_s=2)
    await check(page, "door actions", found)
    assert found == {}


async def test_the_check_finds_a_serious_violation(locker: RunningAgent, page: CdpPage) -> None:
    await open_kiosk(page, locker.url)
    await page.evaluate(
        "document.querySelector('main').append(Object.assign(document.createElement('button'), "
        "{id: 'nameless'}))"
    )
    problems = await axe_problems(page)
    assert [p for p in problems if "button-name" in p and "#nameless" in p] != []
