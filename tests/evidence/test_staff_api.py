"""The staff endpoints for evidence photos, over real HTTP with a real staff session."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import aiohttp

from agent.domain.doors import DoorSize
from agent.evidence.verify import verify_photo
from hardware.camera.compartment_sim import Parcel
from tests.agent.ops.conftest import COURIER_PIN, STAFF_PIN, start_ops_agent
from tests.evidence.conftest import LOCKER, EvidenceLocker


async def _call(
    http: aiohttp.ClientSession, method: str, url: str, session: str | None = None
) -> tuple[int, Any]:
    headers = {"Authorization": f"Bearer {session}"} if session else {}
    async with http.request(method, url, headers=headers) as answer:
        if answer.content_type == "image/jpeg":
            return answer.status, await answer.read()
        return answer.status, await answer.json()


async def _sign_in(http: aiohttp.ClientSession, base: str, pin: str) -> str:
    async with http.post(f"{base}/api/v1/staff/sign-in", json={"pin": pin}) as answer:
        assert answer.status == 200
        return str((await answer.json())["session"])


async def test_staff_take_a_photo_list_an_orders_photos_and_fetch_one(
    locker: EvidenceLocker,
) -> None:
    ticket = await locker.agent.loading.start_load("PCL:ORD-S1:P1", DoorSize.S, actor="c-1")
    locker.camera.place(ticket.door, Parcel("envelope", 2))
    base = str(locker.agent.url).rstrip("/")
    async with aiohttp.ClientSession() as http:
        staff = await _sign_in(http, base, STAFF_PIN)
        courier = await _sign_in(http, base, COURIER_PIN)
        photo_url = f"{base}/api/v1/staff/doors/{ticket.door}/photo"
        assert (await _call(http, "POST", photo_url))[0] == 401
        assert (await _call(http, "POST", photo_url, courier))[0] == 401
        status, body = await _call(http, "POST", photo_url, staff)
        assert (status, body["door"]) == (200, ticket.door)
        status, body = await _call(http, "POST", f"{base}/api/v1/staff/doors/999/photo", staff)
        assert status == 400

        status, listed = await _call(
            http, "GET", f"{base}/api/v1/staff/evidence?order=ORD-S1", staff
        )
        assert status == 200
        assert [(p["event"], p["occupied"]) for p in listed["photos"]] == [("courier_load", False)]
        status, _ = await _call(http, "GET", f"{base}/api/v1/staff/evidence?order=a b", staff)
        assert status == 400

        rows = await locker.photos()
        staff_photo = next(r for r in rows if r["event"] == "staff")
        assert staff_photo["occupied"] == 1  # the envelope, against the empty reference
        status, jpeg = await _call(
            http, "GET", f"{base}/api/v1/staff/evidence/{staff_photo['id']}", staff
        )
        assert status == 200
        assert verify_photo(jpeg, locker.ca_pem, LOCKER).valid
        status, _ = await _call(http, "GET", f"{base}/api/v1/staff/evidence/{'0' * 20}", staff)
        assert status == 404
        status, _ = await _call(http, "GET", f"{base}/api/v1/staff/evidence/..%2Fx", staff)
        assert status in (400, 404)


async def test_without_evidence_photos_the_request_says_so(tmp_path: Path) -> None:
    ops = await start_ops_agent(tmp_path / "data")
    try:
        status, body = await ops.staff_post("/api/v1/staff/doors/1/photo", {})
        assert (status, body["error"]) == (503, "EVIDENCE_UNAVAILABLE")
    finally:
        await ops.http.close()
        await ops.agent.stop()
