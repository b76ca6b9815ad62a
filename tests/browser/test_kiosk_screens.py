"""What the kiosk looks like to a person: screenshots (kept out of git), and the checks a
person would notice: every control named and at least 48 px, readable contrast, visible focus."""

from __future__ import annotations

import asyncio
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from tests.agent.conftest import RunningAgent
from tests.browser.cdp import CdpPage
from tests.browser.kiosk import (
    AUDIT_JS,
    BROWSER_TESTS,
    FOCUS_RING_JS,
    open_kiosk,
    type_code,
    wait_for_result,
)

pytestmark = BROWSER_TESTS

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
WIDTH, HEIGHT = 900, 1280
ACCENT_BGR = (158, 79, 10)  # the header's blue, #0a4f9e
OK_BGR = (232, 244, 228)  # the opened-door card, #e4f4e8


@dataclass(frozen=True, slots=True)
class Picture:
    """What a look at a screenshot finds (shares are fractions of the pixels)."""

    shape: tuple[int, ...]
    spread: float  # standard deviation of the pixel values: 0 for a blank page
    header_accent: float  # share of the top 60 rows in the header's blue
    ok_card: float  # share of the whole picture in the opened-door card's green


def _share(image: np.ndarray, bgr: tuple[int, int, int]) -> float:
    return float(np.all(np.abs(image.astype(np.int16) - bgr) <= 3, axis=2).mean())


def _look_at(png: bytes, path: Path) -> Picture:
    """Decodes and measures a screenshot (in a worker thread: numpy work on 1 MP is not free)."""
    assert png.startswith(PNG_SIGNATURE)
    path.write_bytes(png)
    # people working on the kiosk can keep the pictures: KIOSK_SCREENSHOTS=/some/folder
    keep = os.environ.get("KIOSK_SCREENSHOTS")
    if keep:
        Path(keep).mkdir(parents=True, exist_ok=True)
        shutil.copy(path, Path(keep) / path.name)
    image = cv2.imdecode(np.frombuffer(png, np.uint8), cv2.IMREAD_COLOR)
    assert image is not None
    return Picture(
        image.shape, float(image.std()), _share(image[:60], ACCENT_BGR), _share(image, OK_BGR)
    )


async def test_screenshots_before_and_after_a_pickup(
    locker: RunningAgent, page: CdpPage, tmp_path: Path
) -> None:
    order = locker.orders[0]
    await open_kiosk(page, locker.url)
    png = await page.screenshot()
    before = await asyncio.to_thread(_look_at, png, tmp_path / "kiosk-initial.png")
    assert before.shape == (HEIGHT, WIDTH, 3)
    assert before.spread > 20  # not a blank or single-colour page
    assert before.header_accent > 0.5  # the header bar is drawn
    assert before.ok_card == 0

    await type_code(page, order.code)
    await wait_for_result(page, f"Door {order.door} is open")
    png = await page.screenshot()
    after = await asyncio.to_thread(_look_at, png, tmp_path / "kiosk-door-open.png")
    assert after.shape == (HEIGHT, WIDTH, 3)
    assert after.ok_card > 0.03  # a green card big enough to see from a step away
    number = await page.evaluate(
        "(() => { const n = document.getElementById('result-door-number'); "
        "return [n.textContent, parseFloat(getComputedStyle(n).fontSize)]; })()"
    )
    assert number == [str(order.door), 88]

    # a short landscape screen: the door number and the help button still need no scrolling
    await page.resize(1280, 800)
    on_screen = await page.evaluate(
        "['result-door', 'not-open'].every((id) => { "
        "const r = document.getElementById(id).getBoundingClientRect(); "
        "return r.top >= 0 && r.bottom <= window.innerHeight; })"
    )
    assert on_screen
    png = await page.screenshot()
    landscape = await asyncio.to_thread(_look_at, png, tmp_path / "kiosk-door-open-landscape.png")
    assert landscape.shape == (800, 1280, 3)
    assert landscape.ok_card > 0.03


async def test_controls_are_named_large_readable_and_show_focus(
    locker: RunningAgent, page: CdpPage
) -> None:
    await open_kiosk(page, locker.url)
    assert await page.evaluate(AUDIT_JS) == []

    await page.press("Tab")
    assert await page.evaluate(FOCUS_RING_JS) == {"id": "submit", "ring": True}
    await page.press("Tab", shift=True)
    await page.press("Tab", shift=True)
    assert await page.evaluate(FOCUS_RING_JS) == {"id": "mode-return", "ring": True}
    await page.press("Tab", shift=True)
    await page.press("Tab", shift=True)  # back into the header: the last language button
    assert await page.evaluate(FOCUS_RING_JS) == {"id": "Français", "ring": True}
    assert await page.evaluate("document.activeElement.dataset.lang") == "fr"

    await page.evaluate("document.getElementById('code').focus()")
    await type_code(page, locker.orders[0].code)
    await wait_for_result(page, "is open")
    assert await page.evaluate(AUDIT_JS) == []  # the result card and the help button too
    await type_code(page, "ZZZZ-ZZZZ")
    await wait_for_result(page, "wasn't recognised")
    assert await page.evaluate(AUDIT_JS) == []
