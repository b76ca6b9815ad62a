"""Counter mode: staff scan parcels in, hand them out against code + label, take returns."""

from __future__ import annotations

import hashlib
import random

from agent.domain.doors import DoorSize
from agent.domain.orders import OrderPolicy, OrderState
from agent.reasons import Reason
from agent.tokens.typed_codes import new_typed_code
from tests.agent.ops.conftest import OpsAgent


async def _received(counter: OpsAgent, order_id: str, **kwargs: object) -> str:
    code = await counter.announce(order_id, **kwargs)  # type: ignore[arg-type]
    status, body = await counter.staff_post(
        "/api/v1/counter/receive", {"label": f"PCL:{order_id}:P1"}
    )
    assert (status, body["state"]) == (200, "loaded"), body
    return code


async def test_a_parcel_is_handed_out_when_code_and_label_match(counter: OpsAgent) -> None:
    code = await _received(counter, "ORD-H1")
    order = await counter.order("ORD-H1")
    assert (order.state, order.door, order.hold.started_at) == (
        OrderState.LOADED,
        None,
        counter.clock.now(),
    )
    status, body = await counter.staff_post(
        "/api/v1/counter/handout", {"code": code, "label": "PCL:ORD-H1:P1"}
    )
    assert (status, body["result"], body["order"]) == (200, "handed_out", "ORD-H1")
    assert (await counter.order("ORD-H1")).state is OrderState.COLLECTED
    event = (await counter.events("order.collected"))[-1]
    assert (event["via"], event["door"], event["id_check"]) == ("typed_code", None, None)
    status, body = await counter.staff_post(
        "/api/v1/counter/handout", {"code": code, "label": "PCL:ORD-H1:P1"}
    )
    assert (status, body["error"]) == (409, Reason.ALREADY_USED)
    assert counter.sim.pulses == []


async def test_a_label_of_another_order_or_parcel_is_refused(counter: OpsAgent) -> None:
    code = await _received(counter, "ORD-M1")
    await _received(counter, "ORD-M2")
    for label in ("PCL:ORD-M2:P1", "PCL:ORD-M1:P7"):
        status, body = await counter.staff_post(
            "/api/v1/counter/handout", {"code": code, "label": label}
        )
        assert (status, body["error"]) == (409, Reason.LABEL_MISMATCH), label
        assert "doesn't match" in str(body["message"])
    assert (await counter.order("ORD-M1")).state is OrderState.LOADED
    status, body = await counter.staff_post(
        "/api/v1/counter/handout", {"code": code, "label": "junk"}
    )
    assert (status, body["error"]) == (400, Reason.LABEL_INVALID)


async def test_an_id_check_must_pass_and_only_its_outcome_is_kept(counter: OpsAgent) -> None:
    code = await _received(counter, "ORD-ID", policy=OrderPolicy(id_check_required=True))
    body = {"code": code, "label": "PCL:ORD-ID:P1"}
    status, answer = await counter.staff_post("/api/v1/counter/handout", body)
    assert (status, answer["error"]) == (409, Reason.ID_CHECK_NEEDED)

    status, answer = await counter.staff_post(
        "/api/v1/counter/handout", {**body, "id_check": "not_possible"}
    )
    assert (status, answer["error"]) == (503, Reason.ID_CHECK_UNAVAILABLE)
    assert "stays here" in str(answer["message"])
    assert (await counter.order("ORD-ID")).state is OrderState.LOADED

    status, answer = await counter.staff_post(
        "/api/v1/counter/handout", {**body, "id_check": "failed"}
    )
    assert (status, answer["error"]) == (403, Reason.ID_CHECK_FAILED)
    assert (await counter.order("ORD-ID")).state is OrderState.LOADED

    status, answer = await counter.staff_post(
        "/api/v1/counter/handout", {**body, "id_check": "maybe"}
    )
    assert status == 400

    status, answer = await counter.staff_post(
        "/api/v1/counter/handout", {**body, "id_check": "passed"}
    )
    assert (status, answer["id_check"]) == (200, "passed")
    checks = [d for a, d in await counter.audit_actions() if a == "id_check"]
    assert checks == [
        '{"outcome":"not_possible"}',
        '{"outcome":"failed"}',
        '{"outcome":"passed"}',
    ]
    assert (await counter.events("order.collected"))[-1]["id_check"] == "passed"


async def test_an_unknown_parcel_is_received_with_its_size(counter: OpsAgent) -> None:
    status, body = await counter.staff_post("/api/v1/counter/receive", {"label": "PCL:NEW:P1"})
    assert status == 400
    status, body = await counter.staff_post(
        "/api/v1/counter/receive", {"label": "PCL:NEW:P1", "size": "L"}
    )
    assert (status, body["state"]) == (200, "loaded")
    status, body = await counter.staff_post(
        "/api/v1/counter/receive", {"label": "PCL:NEW:P2", "size": "L"}
    )
    assert status == 200
    assert (await counter.order("NEW")).parcels == ("P1", "P2")


async def test_returns_over_the_counter_keep_only_the_photo_hash(counter: OpsAgent) -> None:
    assert counter.agent.counter is not None
    code = new_typed_code(random.Random(11))
    await counter.agent.db.run(
        lambda conn: conn.execute(
            "INSERT INTO returns (order_ref, size, state, code_key, created_at, updated_at)"
            " VALUES ('ORD-BACK', 'S', 'expected', ?, 0, 0)",
            (counter.code_key(code),),
        )
    )
    photo = hashlib.sha256(b"jpeg bytes of the parcel").hexdigest()
    status, body = await counter.staff_post(
        "/api/v1/counter/return", {"code": code, "label": "PCL:OTHER:P1"}
    )
    assert (status, body["error"]) == (409, Reason.LABEL_MISMATCH)
    status, body = await counter.staff_post(
        "/api/v1/counter/return",
        {"code": code, "label": "PCL:ORD-BACK:P1", "evidence_sha256": "not-a-hash"},
    )
    assert status == 400
    status, body = await counter.staff_post(
        "/api/v1/counter/return",
        {"code": code, "label": "PCL:ORD-BACK:P1", "evidence_sha256": photo},
    )
    assert (status, body["result"]) == (200, "accepted")
    receipt = body["receipt"]
    stored = await counter.agent.db.read(
        lambda conn: conn.execute(
            "SELECT state, door, evidence_sha256, receipt FROM returns WHERE order_ref = 'ORD-BACK'"
        ).fetchone()
    )
    assert tuple(stored) == ("dropped_off", None, photo, receipt)
    status, body = await counter.staff_post(
        "/api/v1/counter/return", {"code": code, "label": "PCL:ORD-BACK:P1"}
    )
    assert (status, body["error"]) == (409, Reason.ALREADY_USED)

    # a verified return token goes straight to the service
    grant = await counter.agent.counter.accept_return(
        "ORD-TOKEN", "PCL:ORD-TOKEN:P1", None, actor="staff-3", via="token"
    )
    assert grant.door is None

    # the courier takes both returns over the counter: no door opens
    status, body = await counter.call("GET", "/api/v1/courier/pickups", session=counter.courier)
    assert {i["ref"] for i in body["items"]} == {"ORD-BACK", "ORD-TOKEN"}
    status, body = await counter.courier_post("/api/v1/courier/collect", {"order": "ORD-BACK"})
    assert (status, body["kind"], body["door"]) == (200, "return", None)
    assert counter.sim.pulses == []
    assert [e["return"] for e in await counter.events("return.collected")] == ["ORD-BACK"]


async def test_counter_endpoints_need_staff_and_lockers_have_none(counter: OpsAgent) -> None:
    status, body = await counter.call(
        "POST", "/api/v1/counter/receive", {"label": "PCL:A:B"}, session=counter.courier
    )
    assert (status, body["error"]) == (401, Reason.NOT_AUTHORISED)
    status, _ = await counter.courier_post("/api/v1/courier/load", {"label": "PCL:A:B"})
    assert status == 404
    status, _ = await counter.call("POST", "/api/v1/returns/start", {"code": "ABCD-EFGH"})
    assert status == 404


async def test_a_locker_has_no_counter_endpoints(ops: OpsAgent) -> None:
    status, _ = await ops.staff_post("/api/v1/counter/receive", {"label": "PCL:A:B"})
    assert status == 404


async def test_an_expired_counter_parcel_is_not_handed_out(counter: OpsAgent) -> None:
    code = await _received(counter, "ORD-OLD", hold_s=60, size=DoorSize.S)
    counter.clock.advance(61)
    await counter.agent.expiry.sweep(counter.clock.now())
    await counter.sign_in_again()
    status, body = await counter.staff_post(
        "/api/v1/counter/handout", {"code": code, "label": "PCL:ORD-OLD:P1"}
    )
    assert (status, body["error"]) == (409, Reason.HOLD_EXPIRED)
