"""Screenshots of every screen in at least two languages, for docs/screens.md.

`make screenshots` runs this module with SCREENSHOTS_DIR=docs/screens; in `make test` the pictures
go to a temporary folder, so the test still proves every screen renders (not blank, the header
drawn, 800x600 at most, a few tens of KB each)."""

from __future__ import annotations

import asyncio
import os
import random
from pathlib import Path

import cv2
import numpy as np
import pytest

from agent.domain.doors import DoorSize
from agent.domain.orders import OrderPolicy
from agent.tokens.typed_codes import code_lookup_key, display_code, new_typed_code
from tests.agent.conftest import RunningAgent
from tests.agent.ops.conftest import COURIER_PIN, STAFF_PIN, OpsAgent
from tests.browser.cdp import CdpPage
from tests.browser.kiosk import BROWSER_TESTS, open_kiosk, type_code, wait_for_result
from tests.browser.staff import (
    fill,
    open_screen,
    sign_in_by_pointer,
    signed_in,
    wait_for_message,
)
from tests.browser.wallet import wallet_locker
from tests.identity.counter_camera import FRAME_S, camera_counter
from tests.identity.test_id_assist import PASSPORT

pytestmark = BROWSER_TESTS

WIDTH, HEIGHT = 800, 600
MAX_BYTES = 200_000
ACCENT_BGR = np.array((158, 79, 10), np.int16)  # the header's blue, #0a4f9e


@pytest.fixture
def shots(tmp_path: Path) -> Path:
    folder = Path(os.environ.get("SCREENSHOTS_DIR") or tmp_path)
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def _store(png: bytes, path: Path, *, top: bool) -> None:
    """Re-encodes at the highest PNG compression and checks the picture (runs in a thread)."""
    image = cv2.imdecode(np.frombuffer(png, np.uint8), cv2.IMREAD_COLOR)
    assert image is not None
    assert image.shape[0] <= HEIGHT, image.shape
    assert image.shape[1] <= WIDTH, image.shape
    assert float(image.std()) > 20, f"{path.name} is blank"
    header = np.all(np.abs(image[:40].astype(np.int16) - ACCENT_BGR) <= 3, axis=2).mean()
    assert header > 0.3 or not top, f"{path.name}: no header drawn"
    ok, encoded = cv2.imencode(".png", image, [cv2.IMWRITE_PNG_COMPRESSION, 9])
    assert ok
    assert len(encoded) < MAX_BYTES, f"{path.name} is {len(encoded)} bytes"
    path.write_bytes(encoded.tobytes())


async def keep(page: CdpPage, folder: Path, name: str, scroll_to: str | None = None) -> None:
    if scroll_to:
        await page.evaluate(
            f"document.querySelector({scroll_to!r}).scrollIntoView({{block: 'center'}})"
        )
    else:
        await page.evaluate("window.scrollTo(0, 0)")
    await asyncio.sleep(0.2)  # let the scroll and fonts settle
    png = await page.screenshot()
    await asyncio.to_thread(_store, png, folder / f"{name}.png", top=scroll_to is None)


async def test_kiosk_screens(locker: RunningAgent, page: CdpPage, shots: Path) -> None:
    for lang in ("en", "de"):
        await open_kiosk(page, f"{locker.url}/?lang={lang}")
        await page.resize(WIDTH, HEIGHT)
        await keep(page, shots, f"kiosk-start-{lang}")
    await open_kiosk(page, f"{locker.url}/?lang=pl")
    await page.resize(WIDTH, HEIGHT)
    order = locker.orders[0]
    await type_code(page, order.code)
    await wait_for_result(page, f"Skrytka {order.door}")
    await keep(page, shots, "kiosk-door-open-pl", "#result")
    await page.click("#languages button[data-lang=en]")
    await keep(page, shots, "kiosk-door-open-en", "#result")
    await page.click("#languages button[data-lang=fr]")
    await type_code(page, "ZZZZ-ZZZZ")
    await wait_for_result(page, "Ce code")
    await keep(page, shots, "kiosk-refused-fr", "#result")
    await page.click("#languages button[data-lang=en]")
    await keep(page, shots, "kiosk-refused-en", "#result")

    code = new_typed_code(random.Random(9))
    returns = locker.agent.returns
    assert returns is not None
    await returns.expect(
        "ORD-SHOT", DoorSize.S, code_lookup_key(code, locker.agent.typed_code_secret)
    )
    await page.click("#languages button[data-lang=de]")
    await page.click("#mode-return")
    await type_code(page, display_code(code))
    await wait_for_result(page, "ist offen")
    await keep(page, shots, "kiosk-return-receipt-de", "#result")

    await open_kiosk(page, f"{locker.url}/?idle=4")
    await page.resize(WIDTH, HEIGHT)
    await type_code(page, "ZZZZ-ZZZZ")
    await wait_for_result(page, "wasn't recognised")
    await page.wait_for("!document.getElementById('more-time').hidden", within_s=4)
    await keep(page, shots, "kiosk-more-time-en")

    for lang in ("en", "pl"):
        await open_kiosk(page, f"{locker.url}/?lang={lang}")
        await page.resize(320, 600)
        await keep(page, shots, f"kiosk-320px-{lang}")


async def test_courier_screens(ops_locker: OpsAgent, page: CdpPage, shots: Path) -> None:
    ops = ops_locker
    await ops.announce("ORD-SHOT1", DoorSize.S)
    await ops.announce("ORD-SHOT2", DoorSize.M)
    await ops.load("PCL:ORD-SHOT2:P1")  # left unconfirmed
    for lang in ("en", "de"):
        await open_screen(page, f"{ops.url}/courier?lang={lang}")
        await page.resize(WIDTH, HEIGHT)
        await keep(page, shots, f"courier-sign-in-{lang}")
    await sign_in_by_pointer(page, COURIER_PIN)
    await signed_in(page)
    await fill(page, "label", "PCL:ORD-SHOT1:P1")
    await page.click("#load-form button[type=submit]")
    await wait_for_message(page, "Legen Sie das Paket")
    await keep(page, shots, "courier-load-de", "#ticket")
    await page.click("#languages button[data-lang=en]")
    await keep(page, shots, "courier-load-en", "#ticket")
    await keep(page, shots, "courier-lists-en", "#pending")


async def test_counter_screens(ops_counter: OpsAgent, page: CdpPage, shots: Path) -> None:
    ops = ops_counter
    code = await ops.announce("ORD-SHOTID", policy=OrderPolicy(id_check_required=True))
    await ops.staff_post("/api/v1/counter/receive", {"label": "PCL:ORD-SHOTID:P1"})
    await open_screen(page, f"{ops.url}/counter?lang=fr")
    await page.resize(WIDTH, HEIGHT)
    await keep(page, shots, "counter-sign-in-fr")
    await sign_in_by_pointer(page, STAFF_PIN)
    await signed_in(page)
    await fill(page, "code", code)
    await fill(page, "label", "PCL:ORD-SHOTID:P1")
    await page.click("#handout-form button[type=submit]")
    await wait_for_message(page, "contrôle d'identité")
    await keep(page, shots, "counter-id-check-fr", "#id-check")
    await page.click("#languages button[data-lang=en]")
    await keep(page, shots, "counter-id-check-en", "#id-check")


async def test_maintenance_screens(ops_locker: OpsAgent, page: CdpPage, shots: Path) -> None:
    ops = ops_locker
    await ops.agent.db.run(
        lambda conn: conn.execute("UPDATE doors SET fault = 'jammed' WHERE number = 3")
    )
    await open_screen(page, f"{ops.url}/staff?lang=en")
    await page.resize(WIDTH, HEIGHT)
    await keep(page, shots, "staff-sign-in-en")
    await sign_in_by_pointer(page, COURIER_PIN)
    await wait_for_message(page, "needs a staff sign-in")
    await keep(page, shots, "staff-courier-refused-en")
    await sign_in_by_pointer(page, STAFF_PIN)
    await signed_in(page)
    await page.wait_for("document.documentElement.dataset.loaded === 'yes'")
    await keep(page, shots, "staff-doors-en")
    await page.click('#doors [data-door="3"]')
    await page.click("#languages button[data-lang=pl]")
    await keep(page, shots, "staff-door-actions-pl", "#door-actions")
    await keep(page, shots, "staff-status-pl", "#alarms")


async def test_kiosk_wallet_screens(tmp_path: Path, page: CdpPage, shots: Path) -> None:
    async with wallet_locker(tmp_path) as locker:
        for lang, words in (("en", "proof of age"), ("pl", "potwierdzenia wieku")):
            await open_kiosk(page, f"{locker.running.url}/?lang={lang}")
            await page.resize(WIDTH, HEIGHT)
            await type_code(page, locker.order.code)
            await wait_for_result(page, words)
            await keep(page, shots, f"kiosk-wallet-{lang}")
        await page.click("#languages button[data-lang=de]")
        locker.show_wallet(locker.wallet(16), seed=8)
        await wait_for_result(page, "nicht bestanden", within_s=15)
        await keep(page, shots, "kiosk-wallet-refused-de", "#result")


async def test_counter_id_check_screens(tmp_path: Path, page: CdpPage, shots: Path) -> None:
    async with camera_counter(tmp_path) as counter:
        code = await counter.ops.announce("ORD-SHOTCAM", policy=OrderPolicy(min_age=18))
        await counter.ops.staff_post("/api/v1/counter/receive", {"label": "PCL:ORD-SHOTCAM:P1"})
        await open_screen(page, f"{counter.ops.url}/counter?lang=en")
        await page.resize(WIDTH, HEIGHT)
        await sign_in_by_pointer(page, STAFF_PIN)
        await signed_in(page)
        await fill(page, "code", code)
        await fill(page, "label", "PCL:ORD-SHOTCAM:P1")
        await page.click("#handout-form button[type=submit]")
        await wait_for_message(page, "ID check")
        await counter.show_mrz(PASSPORT, 3)
        await page.click("#id-document")
        await wait_for_message(page, "Compare the photo")
        await keep(page, shots, "counter-id-document-en", "#id-check")
        counter.show_wallet(16)
        await asyncio.sleep(FRAME_S)
        await page.click("#languages button[data-lang=pl]")
        await page.click("#id-wallet")
        await page.wait_for("document.getElementById('id-findings').innerText.includes('NIE')")
        await keep(page, shots, "counter-id-wallet-pl", "#id-check")
