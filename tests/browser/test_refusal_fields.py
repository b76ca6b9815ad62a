"""The screens read a refusal's `reason` and `ref` from the JSON fields, never from the English
message; and the agent's error body carries both fields."""

from __future__ import annotations

import json
from collections.abc import Mapping

from tests.agent.conftest import RunningAgent
from tests.browser.cdp import CdpPage
from tests.browser.kiosk import open_kiosk


async def _refusal_text(page: CdpPage, body: Mapping[str, object], lang: str = "en") -> str:
    text: str = await page.evaluate(
        f"I18N.lang = {json.dumps(lang)}; refusalText({json.dumps(body)})"
    )
    return text


async def test_the_kiosk_takes_reason_and_ref_from_the_fields(
    locker: RunningAgent, page: CdpPage
) -> None:
    await open_kiosk(page, locker.url)
    body = {"reason": "CODE_UNKNOWN", "ref": "E-42", "message": "English words (ref X-9)"}
    text = await _refusal_text(page, body)
    assert text.endswith("(ref E-42)")
    assert "X-9" not in text
    german = await _refusal_text(page, body, "de")
    assert german.startswith("Dieser Code wurde nicht erkannt")
    assert german.endswith("(ref E-42)")


async def test_a_reference_only_inside_the_message_is_not_parsed(
    locker: RunningAgent, page: CdpPage
) -> None:
    await open_kiosk(page, locker.url)
    only_text = {"reason": "CODE_UNKNOWN", "ref": None, "message": "Not known (ref X-9)"}
    assert "ref" not in await _refusal_text(page, only_text)
    assert await page.evaluate(f"refOf({json.dumps(only_text)})") is None
    no_reason = {"error": "CODE_UNKNOWN", "message": "Not known (ref X-9)"}
    assert await page.evaluate(f"reasonOf({json.dumps(no_reason)})") is None


async def test_a_refusal_body_carries_reason_and_ref_as_fields(locker: RunningAgent) -> None:
    status, body = await locker.post("/api/v1/pickup/code", {"code": "ZZZZ-ZZZZ"})
    assert status == 404
    assert body["reason"] == "CODE_UNKNOWN"
    assert "ref" in body
    assert body["message"]


async def test_door_help_carries_the_support_reference_as_a_field(locker: RunningAgent) -> None:
    order = locker.orders[0]
    locker.sim.faults(order.door).jammed = True  # the latch clicks, the door stays shut
    status, _ = await locker.post("/api/v1/pickup/code", {"code": order.code})
    assert status == 200
    status, body = await locker.post("/api/v1/pickup/door-did-not-open", {"code": order.code})
    assert (status, body["result"]) == (200, "jammed")
    assert str(body["ref"]).startswith("E-")
    assert f"(ref {body['ref']})" in str(body["message"])
