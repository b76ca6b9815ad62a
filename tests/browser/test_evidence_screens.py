"""Evidence on the screens, in a real browser: a customer reports a damaged parcel on the kiosk
after the door opened (a photo of the compartment and `order.damage_reported`), and staff see
that order's photos on the maintenance screen, served to a signed-in staff session only."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from agent.config.evidence import EvidenceConfig
from provisioning import device_ca
from tests.agent.ops.conftest import STAFF_PIN, OpsAgent, running_ops_agent
from tests.browser.cdp import CdpPage
from tests.browser.kiosk import (
    AUDIT_JS,
    BROWSER_TESTS,
    is_shown,
    open_kiosk,
    type_code,
    wait_for_result,
)
from tests.browser.staff import fill, open_screen, sign_in_by_pointer, signed_in
from tests.contract.schemas import problems

pytestmark = BROWSER_TESTS


@pytest.fixture
async def evidence_locker(tmp_path: Path) -> AsyncIterator[OpsAgent]:
    data = tmp_path / "data"
    ca = device_ca.create_ca("fleet-screens", now=time.time())
    await asyncio.to_thread(
        device_ca.write_device_credentials, ca, "LK-OPS-001", data, now=time.time()
    )
    evidence = EvidenceConfig(enabled=True, width=640, height=360)
    async with running_ops_agent(data, evidence=evidence) as running:
        yield running


async def test_a_damage_report_on_the_kiosk_and_the_orders_photos_on_the_staff_screen(
    evidence_locker: OpsAgent, page: CdpPage
) -> None:
    ops = evidence_locker
    code = await ops.announce("ORD-DMG-1")
    ticket = await ops.load_and_close("PCL:ORD-DMG-1:P1")  # the courier's photo of the door
    door = int(str(ticket["door"]))

    await open_kiosk(page, ops.url)
    assert not await is_shown(page, "damaged")
    await type_code(page, code)
    await wait_for_result(page, f"Door {door} is open")
    assert await is_shown(page, "damaged")
    await page.click("#damaged")
    text = await wait_for_result(page, "damage is recorded")
    assert text.startswith(f"Thank you. The damage is recorded with a photo of compartment {door}.")
    assert not await is_shown(page, "damaged")
    (report,) = await ops.events("order.damage_reported")
    assert report["order"] == "ORD-DMG-1"
    assert report["door"] == door
    assert isinstance(report["photo"], str)
    body = {k: v for k, v in report.items() if k != "kind"}
    pointer = "#/components/schemas/event.order.damage_reported"
    assert await asyncio.to_thread(problems, pointer, body) == []
    assert page.exceptions == []

    # the photos are staff's only: no session, or a courier's, gets none
    thumb = f"/api/v1/staff/evidence/{report['photo']}/thumb"
    status, _ = await ops.call("GET", "/api/v1/staff/evidence?order=ORD-DMG-1")
    assert status == 401
    async with ops.http.get(ops.url + thumb) as response:
        assert response.status == 401
    async with ops.http.get(
        ops.url + thumb, headers={"Authorization": f"Bearer {ops.courier}"}
    ) as response:
        assert response.status == 401  # a courier is not staff

    await open_screen(page, ops.url + "/staff")
    await sign_in_by_pointer(page, STAFF_PIN)
    await signed_in(page)
    await fill(page, "photo-order", "ORD-DMG-1")
    await page.click("#photo-form button[type=submit]")
    await page.wait_for("document.getElementById('photos').dataset.loaded === 'ORD-DMG-1'")
    shown = await page.evaluate(
        "[...document.querySelectorAll('#photos figure')].map(f => ["
        " f.dataset.photo, f.querySelector('figcaption').textContent,"
        " f.querySelector('a').getAttribute('href').slice(0, 5)])"
    )
    assert [s[0] for s in shown][-1] == report["photo"]
    assert len(shown) == 2  # the courier's "before" photo and the damage report's
    assert [s[1].split(" · ")[0] for s in shown] == ["courier_load", "parcel_damaged"]
    assert all(s[2] == "blob:" for s in shown)
    await page.wait_for(
        "[...document.querySelectorAll('#photos img')].every(i => i.complete && i.naturalWidth)"
    )
    assert await page.evaluate("document.querySelector('#photos img').naturalWidth") == 320
    assert await page.evaluate(AUDIT_JS) == []

    await page.evaluate("document.getElementById('photo-order').value = ''")
    await fill(page, "photo-order", "ORD-NONE")
    await page.click("#photo-form button[type=submit]")
    await page.wait_for("document.getElementById('photos').dataset.loaded === 'ORD-NONE'")
    assert await page.evaluate("document.getElementById('photos').innerText") == (
        "No photos of this order."
    )
    await page.click("#sign-out")
    await page.wait_for("document.querySelectorAll('#photos li').length === 0")
    assert page.exceptions == []
