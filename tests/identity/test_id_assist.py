"""ID-document assist at a real counter: a camera frame in, outcomes only out (and audited)."""

from __future__ import annotations

import asyncio
import json
import os
import time
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import cv2
import numpy as np
import numpy.typing as npt
import pytest

from agent.bootstrap.app import Agent, DoorHardware
from agent.domain.clock import ManualClock
from agent.domain.orders import OrderPolicy
from agent.identity.names import name_digest
from hardware.doors.sim import SimulatedLocker
from tests.agent.ops.conftest import OpsAgent, ops_config
from tests.identity.id_scenes import PERSON as LICENCE
from tests.identity.id_scenes import aamva, photographed
from tests.identity.ocrb import FONT_DIR, counter_frame, td3

# The test passport: none of these may be returned, stored, audited or logged.
PASSPORT = td3("QX7Z44117", "010203", "F", "350101", family="Privacyova", given="Zuzanna Quill")
MINOR = td3("QX7Z44125", "150203", "F", "350101", family="Privacyova", given="Zuzanna Quill")


def png(frame: npt.NDArray[np.uint8]) -> bytes:
    ok, data = cv2.imencode(".png", frame)
    assert ok
    return bytes(data)


async def mrz_png(text: str, seed: int) -> bytes:
    """A counter frame of the document, rendered off the loop (text2image, the camera model)."""
    return await asyncio.to_thread(lambda: png(counter_frame(text, seed)))


async def licence_png(seed: int) -> bytes:
    return await asyncio.to_thread(lambda: png(photographed(aamva(LICENCE), seed)))


async def start_counter(tmp_path: Path, *, mrz: bool = True) -> OpsAgent:
    config = ops_config(tmp_path / "data", "counter")
    font = Path(FONT_DIR) if mrz else None
    identity = config.identity.model_copy(update={"mrz_font_dir": font})
    config = config.model_copy(update={"identity": identity})
    sim = SimulatedLocker(len(config.doors.layout()))
    agent = Agent(config, clock=ManualClock(time.time()), hardware=DoorHardware(sim, sim))
    await agent.start()
    ops = OpsAgent(agent, sim, agent.clock, aiohttp.ClientSession())  # type: ignore[arg-type]
    ops.staff = await ops.sign_in("135790")
    return ops


@pytest.fixture
async def counter(tmp_path: Path) -> AsyncIterator[OpsAgent]:
    running = await start_counter(tmp_path)
    try:
        yield running
    finally:
        await running.http.close()
        await running.agent.stop()


async def assist(
    counter: OpsAgent, order: str, image: bytes, *, session: str | None = None
) -> tuple[int, dict[str, object]]:
    headers = {"Content-Type": "image/png", "Authorization": f"Bearer {session or counter.staff}"}
    async with counter.http.post(
        f"{counter.url}/api/v1/counter/id-assist/{order}", data=image, headers=headers
    ) as response:
        return response.status, await response.json()


def recipient(given: str, family: str) -> OrderPolicy:
    salt = os.urandom(16)
    digest = name_digest(salt, given, family)
    return OrderPolicy(min_age=18, recipient_salt=salt, recipient_digest=digest)


async def test_a_passport_mrz_is_read_and_assessed(counter: OpsAgent) -> None:
    await counter.announce("ORD-A1", policy=recipient("Zuzanna Quill", "Privacyova"))
    status, body = await assist(counter, "ORD-A1", await mrz_png(PASSPORT, 3))
    assert status == 200, body
    assert body["assist"] == {
        "kind": "td3",
        "issuing_state": "UTO",
        "check_digits_ok": True,
        "failed_checks": [],
        "expired": False,
        "min_age": 18,
        "age_ok": True,
        "name_matches": True,
    }
    (detail,) = [json.loads(d) for a, d in await counter.audit_actions() if a == "id_assist"]
    assert detail == body["assist"]  # the audit keeps exactly the outcome


async def test_a_minor_and_another_name_are_shown_to_staff(counter: OpsAgent) -> None:
    await counter.announce("ORD-A2", policy=recipient("Someone", "Else"))
    status, body = await assist(counter, "ORD-A2", await mrz_png(MINOR, 5))
    assert status == 200, body
    outcome = body["assist"]
    assert isinstance(outcome, dict)
    assert (outcome["age_ok"], outcome["name_matches"]) == (False, False)


async def test_a_driving_licence_pdf417(counter: OpsAgent) -> None:
    await counter.announce("ORD-A3", policy=OrderPolicy(min_age=21))
    status, body = await assist(counter, "ORD-A3", await licence_png(4))
    assert status == 200, body
    outcome = body["assist"]
    assert isinstance(outcome, dict)
    assert (outcome["kind"], outcome["age_ok"], outcome["name_matches"]) == ("aamva", True, None)


async def test_bad_requests(counter: OpsAgent) -> None:
    await counter.announce("ORD-A4", policy=OrderPolicy(min_age=18))
    blank = png(np.full((720, 1280), 200, dtype=np.uint8))
    cases = [
        (await assist(counter, "ORD-A4", blank), 400, "DECODE_FAILED"),
        (await assist(counter, "ORD-A4", b"not an image"), 400, "BAD_REQUEST"),
        (await assist(counter, "ORD-NONE", blank), 404, "ORDER_UNKNOWN"),
        (await assist(counter, "ORD-A4", blank, session="nobody"), 401, "NOT_AUTHORISED"),
    ]
    for (status, body), want_status, reason in cases:
        assert (status, body["error"]) == (want_status, reason)


async def test_staff_confirm_the_assist_with_the_handout_id_check(counter: OpsAgent) -> None:
    """A `min_age` order at the counter: no handout without a recorded ID check; the assist
    helps, the staff's `passed` hands it out."""
    code = await counter.announce("ORD-A5", policy=OrderPolicy(min_age=18))
    status, _ = await counter.staff_post("/api/v1/counter/receive", {"label": "PCL:ORD-A5:P1"})
    assert status == 200
    body = {"code": code, "label": "PCL:ORD-A5:P1"}
    status, answer = await counter.staff_post("/api/v1/counter/handout", body)
    assert (status, answer["error"]) == (409, "ID_CHECK_NEEDED")
    status, answer = await assist(counter, "ORD-A5", await mrz_png(PASSPORT, 3))
    assert (status, answer["assist"]["age_ok"]) == (200, True)  # type: ignore[index]
    status, answer = await counter.staff_post(
        "/api/v1/counter/handout", {**body, "id_check": "passed"}
    )
    assert (status, answer["id_check"]) == (200, "passed")
