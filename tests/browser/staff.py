"""What the browser tests do on the staff screens, in a person's terms."""

from __future__ import annotations

import json

from tests.browser.cdp import CdpPage

MESSAGE = "document.getElementById('message').textContent"


async def open_screen(page: CdpPage, url: str) -> None:
    await page.open(url)
    await page.wait_for("document.documentElement.dataset.ready === 'yes'")


async def sign_in_by_pointer(page: CdpPage, pin: str) -> None:
    """Taps the PIN on the screen's PIN pad and presses Sign in."""
    for digit in pin:
        await page.click(f"#pin-pad button[data-key={json.dumps(digit)}]")
    await page.click("#sign-in-form button[type=submit]")


async def signed_in(page: CdpPage) -> str:
    who: str = await page.wait_for(
        "!document.getElementById('work-view').hidden && document.getElementById('who').textContent"
    )
    return who


async def wait_for_message(page: CdpPage, contains: str, *, within_s: float = 8.0) -> str:
    text: str = await page.wait_for(
        f"(() => {{ const m = {MESSAGE}; return m.includes({json.dumps(contains)}) && m; }})()",
        within_s=within_s,
    )
    return text


async def fill(page: CdpPage, element_id: str, text: str) -> None:
    """Focuses a field and types into it (a label scanner types like a keyboard)."""
    await page.evaluate(f"document.getElementById({json.dumps(element_id)}).focus()")
    await page.type_text(text)
