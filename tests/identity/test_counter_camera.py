"""The counter's two ID buttons read the counter camera's current frame (issue 15 item 5): an ID
document (MRZ, PDF417) or a customer's wallet. Outcomes only; staff still confirm."""

from __future__ import annotations

import asyncio
import json
import logging
import time
from pathlib import Path

import pytest

from agent.domain.orders import OrderPolicy
from agent.identity.simulated_wallet import SimulatedIssuer
from tests.identity.counter_camera import FRAME_S, CameraCounter, camera_counter
from tests.identity.test_id_assist import MINOR, PASSPORT, recipient
from tests.identity.test_privacy_stores import database_files, found_in, outbox_and_audit

DOCUMENT = "/api/v1/counter/id-check/document"
WALLET = "/api/v1/counter/id-check/wallet"
PID_NS = "eu.europa.ec.eudi.pid.1"


async def _order(counter: CameraCounter, order_id: str, policy: OrderPolicy) -> str:
    code = await counter.ops.announce(order_id, policy=policy)
    label = f"PCL:{order_id}:P1"
    status, _ = await counter.ops.staff_post("/api/v1/counter/receive", {"label": label})
    assert status == 200
    return code


async def _checks(counter: CameraCounter) -> list[dict[str, object]]:
    rows = await counter.ops.agent.db.read(
        lambda conn: conn.execute(
            "SELECT body FROM outbox WHERE kind = 'identity.checked' ORDER BY seq"
        ).fetchall()
    )
    return [json.loads(row[0]) for row in rows]


async def test_documents_under_the_counter_camera(tmp_path: Path) -> None:
    async with camera_counter(tmp_path) as counter:
        await _order(counter, "ORD-C1", recipient("Zuzanna Quill", "Privacyova"))
        await counter.show_mrz(PASSPORT, 3)
        status, body = await counter.ops.staff_post(DOCUMENT, {"label": "PCL:ORD-C1:P1"})
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
        await counter.show_mrz(MINOR, 5)
        status, body = await counter.ops.staff_post(DOCUMENT, {"label": "PCL:ORD-C1:P1"})
        assert (status, body["assist"]["age_ok"]) == (200, False)
        await counter.show_licence(4)
        status, body = await counter.ops.staff_post(DOCUMENT, {"label": "PCL:ORD-C1:P1"})
        assert (status, body["assist"]["kind"]) == (200, "aamva")
        await counter.show_nothing()
        status, body = await counter.ops.staff_post(DOCUMENT, {"label": "PCL:ORD-C1:P1"})
        assert (status, body["error"]) == (400, "DECODE_FAILED")
        status, body = await counter.ops.staff_post(DOCUMENT, {"label": "junk"})
        assert (status, body["error"]) == (400, "LABEL_INVALID")
        status, body = await counter.ops.call(
            "POST", DOCUMENT, {"label": "PCL:ORD-C1:P1"}, session="nobody"
        )
        assert status == 401


async def test_a_wallet_under_the_counter_camera(tmp_path: Path) -> None:
    async with camera_counter(tmp_path) as counter:
        code = await _order(counter, "ORD-C2", OrderPolicy(min_age=18))
        adult = counter.show_wallet(25)
        await asyncio.sleep(FRAME_S)
        status, body = await counter.ops.staff_post(WALLET, {"label": "PCL:ORD-C2:P1"})
        assert status == 200, body
        assert body["wallet"] == {
            "passed": True,
            "reason": None,
            "method": "mdoc_signature",
            "document": PID_NS,
            "issuer_country": "UT",
            "min_age": 18,
            "recipient_checked": False,
        }
        assert adult.requested == [{PID_NS: {"age_over_18": False}}]
        counter.show_wallet(16)
        await asyncio.sleep(FRAME_S)
        status, body = await counter.ops.staff_post(WALLET, {"label": "PCL:ORD-C2:P1"})
        assert status == 200, body
        assert (status, body["wallet"]["passed"], body["wallet"]["reason"]) == (
            200,
            False,
            "UNDER_AGE",
        )
        stranger = await asyncio.to_thread(SimulatedIssuer, now=time.time(), name="Stranger")
        counter.show_wallet(30, issuer=stranger)
        await asyncio.sleep(FRAME_S)
        status, body = await counter.ops.staff_post(WALLET, {"label": "PCL:ORD-C2:P1"})
        assert status == 200, body
        assert body["wallet"]["reason"] == "ISSUER_UNTRUSTED"
        assert [c["passed"] for c in await _checks(counter)] == [True, False, False]
        # the assist decides nothing: the handout still needs the staff's ID check outcome
        handout = {"code": code, "label": "PCL:ORD-C2:P1"}
        status, body = await counter.ops.staff_post("/api/v1/counter/handout", handout)
        assert (status, body["error"]) == (409, "ID_CHECK_NEEDED")
        status, body = await counter.ops.staff_post(
            "/api/v1/counter/handout", {**handout, "id_check": "passed"}
        )
        assert status == 200
        # an order without a minimum age needs no wallet
        await _order(counter, "ORD-C3", OrderPolicy())
        status, body = await counter.ops.staff_post(WALLET, {"label": "PCL:ORD-C3:P1"})
        assert (status, body["error"]) == (400, "BAD_REQUEST")


async def test_no_camera_means_no_camera_checks(tmp_path: Path) -> None:
    async with camera_counter(tmp_path, camera=False) as counter:
        await _order(counter, "ORD-C4", OrderPolicy(min_age=18))
        for path in (DOCUMENT, WALLET):
            status, body = await counter.ops.staff_post(path, {"label": "PCL:ORD-C4:P1"})
            assert (status, body["error"]) == (503, "ID_CHECK_UNAVAILABLE")


async def test_nothing_personal_is_kept_after_camera_checks(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A named-recipient wallet (names disclosed and matched) and a passport under the counter
    camera: the database files, outbox, audit, log and answers hold none of their values."""
    caplog.set_level(logging.DEBUG)
    answers: list[str] = []
    async with camera_counter(tmp_path) as counter:
        policy = recipient("Counter Quillish", "Testerova")
        await _order(counter, "ORD-C5", policy)
        phone = counter.show_wallet(33, given="Counter Quillish", family="Testerova")
        await asyncio.sleep(FRAME_S)
        status, body = await counter.ops.staff_post(WALLET, {"label": "PCL:ORD-C5:P1"})
        answers.append(json.dumps(body))
        assert (status, body["wallet"]["recipient_checked"]) == (200, True)
        assert body["wallet"]["passed"] is True
        assert set(phone.requested[0][PID_NS]) == {"age_over_18", "given_name", "family_name"}
        await counter.show_mrz(PASSPORT, 3)
        status, body = await counter.ops.staff_post(DOCUMENT, {"label": "PCL:ORD-C5:P1"})
        answers.append(json.dumps(body))
        assert status == 200
        data_dir = counter.ops.agent.config.locker.data_dir
        stored = database_files(data_dir)
        kept = outbox_and_audit(data_dir)
    person = phone.doc_person
    assert person is not None
    needles = [
        "quillish",
        "testerova",
        "zuzanna",
        "privacyova",
        "qx7z44117",
        person.birth_date.isoformat(),
        person.document_number.lower(),
    ]
    for name, data in stored.items():
        assert found_in(data, needles) == [], name
    assert found_in(kept, needles) == []
    assert found_in(caplog.text, needles) == []
    assert found_in("\n".join(answers), needles) == []
