"""Courier loading through the HTTP API on simulated doors (no faults: see test_loading_faults)."""

from __future__ import annotations

import asyncio

import pytest

from agent.domain.doors import DoorSize
from agent.domain.orders import OrderPolicy, OrderState
from agent.reasons import Reason
from tests.agent.ops.conftest import OpsAgent

# default layout: S 1-6, S low 7-8, M 9-14, M low 15-16, L 17-22, L low 23-24


async def test_a_parcel_is_loaded_only_when_its_door_is_closed(ops: OpsAgent) -> None:
    code = await ops.announce("ORD-A1")
    ticket = await ops.load("PCL:ORD-A1:P1")
    assert ticket["door"] == 1
    assert ticket["door_size"] == "S"
    assert ticket["new_order"] is False
    assert ops.sim.pulses == [1]
    assert (await ops.order("ORD-A1")).state is OrderState.ANNOUNCED
    assert 1 not in await ops.free_doors()  # reserved by the pending load

    status, body = await ops.courier_post(f"/api/v1/courier/load/{ticket['load']}/confirm")
    assert status == 409
    assert body["error"] == Reason.DOOR_NOT_CLOSED
    assert (await ops.order("ORD-A1")).state is OrderState.ANNOUNCED

    ops.sim.close_door(1)
    status, body = await ops.courier_post(f"/api/v1/courier/load/{ticket['load']}/confirm")
    assert status == 200
    assert body["state"] == "loaded"
    assert body["sensor"] == "closed"
    order = await ops.order("ORD-A1")
    assert order.state is OrderState.LOADED
    assert order.door == 1
    assert order.hold.started_at == ops.clock.now()
    loaded = await ops.events("order.loaded")
    assert loaded[-1]["order"] == "ORD-A1"
    assert loaded[-1]["door"] == 1

    # the customer's typed code now opens that door
    status, body = await ops.call("POST", "/api/v1/pickup/code", {"code": code})
    assert status == 200
    assert body["door"] == 1


async def test_accessible_orders_get_low_doors_and_others_keep_them_free(ops: OpsAgent) -> None:
    await ops.announce("ORD-LOW", policy=OrderPolicy(accessible=True))
    await ops.announce("ORD-HIGH")
    assert (await ops.load("PCL:ORD-LOW:P1"))["door"] == 7
    assert (await ops.load("PCL:ORD-HIGH:P1"))["door"] == 1


async def test_parcels_of_one_order_share_its_door(ops: OpsAgent) -> None:
    await ops.announce("ORD-TWO", parcels=("P1", "P2"))
    first = await ops.load_and_close("PCL:ORD-TWO:P1")
    second = await ops.load("PCL:ORD-TWO:P2")
    assert second["door"] == first["door"]
    assert ops.sim.pulses == [first["door"], first["door"]]
    ops.sim.close_door(int(str(second["door"])))
    status, _ = await ops.courier_post(f"/api/v1/courier/load/{second['load']}/confirm")
    assert status == 200
    order = await ops.order("ORD-TWO")
    assert order.parcels == ("P1", "P2")
    assert [e["parcel"] for e in await ops.events("order.parcel_added")] == ["P2"]

    status, body = await ops.courier_post("/api/v1/courier/load", {"label": "PCL:ORD-TWO:P2"})
    assert status == 409
    assert body["error"] == Reason.PARCEL_ALREADY_LOADED


async def test_a_second_parcel_that_does_not_fit_moves_the_order_to_a_larger_door(
    ops: OpsAgent,
) -> None:
    await ops.announce("ORD-MOVE", parcels=("P1", "P2"))
    await ops.load_and_close("PCL:ORD-MOVE:P1")
    shared = await ops.load("PCL:ORD-MOVE:P2")
    status, moved = await ops.courier_post(f"/api/v1/courier/load/{shared['load']}/too-small")
    assert status == 200
    assert moved["door_size"] == "M"
    assert moved["move_parcels_from"] == 1
    assert "door 1" in str(moved["message"])
    ops.sim.close_door(1)
    ops.sim.close_door(int(str(moved["door"])))
    status, _ = await ops.courier_post(f"/api/v1/courier/load/{moved['load']}/confirm")
    assert status == 200
    order = await ops.order("ORD-MOVE")
    assert order.door == moved["door"]
    assert order.parcels == ("P1", "P2")
    assert 1 in await ops.free_doors()
    event = (await ops.events("order.moved"))[-1]
    assert (event["from"], event["door"]) == (1, moved["door"])


async def test_door_too_small_frees_the_door_and_opens_the_next_size(ops: OpsAgent) -> None:
    await ops.announce("ORD-BIG")
    small = await ops.load("PCL:ORD-BIG:P1")
    status, medium = await ops.courier_post(f"/api/v1/courier/load/{small['load']}/too-small")
    assert status == 200
    assert (medium["door"], medium["door_size"], medium["move_parcels_from"]) == (9, "M", None)
    assert 1 in await ops.free_doors()
    status, large = await ops.courier_post(f"/api/v1/courier/load/{medium['load']}/too-small")
    assert (status, large["door_size"]) == (200, "L")
    status, body = await ops.courier_post(f"/api/v1/courier/load/{large['load']}/too-small")
    assert status == 409
    assert body["error"] == Reason.NO_LARGER_DOOR
    # the old load cannot be confirmed any more; the live one can
    status, body = await ops.courier_post(f"/api/v1/courier/load/{small['load']}/confirm")
    assert (status, body["error"]) == (409, Reason.ILLEGAL_TRANSITION)
    ops.sim.close_door(int(str(large["door"])))
    status, _ = await ops.courier_post(f"/api/v1/courier/load/{large['load']}/confirm")
    assert status == 200
    assert (await ops.order("ORD-BIG")).door == large["door"]


async def test_an_order_unknown_to_the_locker_is_created_from_its_label(ops: OpsAgent) -> None:
    status, body = await ops.courier_post("/api/v1/courier/load", {"label": "PCL:ORD-NEW:P9"})
    assert status == 400
    assert "size" in str(body["detail"])
    ticket = await ops.load_and_close("PCL:ORD-NEW:P9", size="M")
    assert ticket["new_order"] is True
    assert ticket["door_size"] == "M"
    order = await ops.order("ORD-NEW")
    assert order.state is OrderState.LOADED
    assert order.size == "M"
    assert order.hold.hold_s == ops.agent.config.hold.default_hours * 3600
    assert order.parcels == ("P9",)
    assert [e["order"] for e in await ops.events("order.announced")] == ["ORD-NEW"]


async def test_a_full_locker_answers_no_door_and_tells_the_hub(ops: OpsAgent) -> None:
    for n in range(8):
        await ops.announce(f"ORD-L{n}", DoorSize.L)
        await ops.load(f"PCL:ORD-L{n}:P1")
    await ops.announce("ORD-L8", DoorSize.L)
    status, body = await ops.courier_post("/api/v1/courier/load", {"label": "PCL:ORD-L8:P1"})
    assert status == 409
    assert body["error"] == Reason.NO_DOOR_AVAILABLE
    full = await ops.events("locker.full")
    assert full == [{"kind": "locker.full", "order": "ORD-L8", "size": "L"}]
    # a small parcel still finds a small door
    await ops.announce("ORD-S", DoorSize.S)
    assert (await ops.load("PCL:ORD-S:P1"))["door_size"] == "S"


@pytest.mark.parametrize(
    "label",
    [
        "ORD-1:P1",
        "PCL:",
        "PCL:ORD-1",
        "PCL:ORD-1:P1:extra",
        "pcl:ORD-1:P1",
        "PCL:ORD 1:P1",
        "PCL:ORD-1:" + "P" * 65,
        'PCL:ORD-1:P1"; DROP TABLE orders',
        "PCL:ÖRD:P1",
    ],
)
async def test_junk_labels_are_refused_with_a_reason(ops: OpsAgent, label: str) -> None:
    status, body = await ops.courier_post("/api/v1/courier/load", {"label": label})
    assert status == 400
    assert body["error"] == Reason.LABEL_INVALID
    assert "PCL:<order>:<parcel>" in str(body["detail"])
    assert ops.sim.pulses == []


async def test_bad_sizes_and_load_ids_are_400(ops: OpsAgent) -> None:
    status, body = await ops.courier_post(
        "/api/v1/courier/load", {"label": "PCL:A:B", "size": "XL"}
    )
    assert (status, body["error"]) == (400, Reason.BAD_REQUEST)
    status, body = await ops.courier_post("/api/v1/courier/load/abc/confirm")
    assert status == 400
    status, body = await ops.courier_post("/api/v1/courier/load/999/confirm")
    assert (status, body["error"]) == (404, Reason.NOT_FOUND)


async def test_a_cancelled_load_frees_its_door_and_cannot_be_confirmed(ops: OpsAgent) -> None:
    await ops.announce("ORD-C")
    ticket = await ops.load("PCL:ORD-C:P1")
    status, body = await ops.courier_post(f"/api/v1/courier/load/{ticket['load']}/cancel")
    assert (status, body["result"]) == (200, "cancelled")
    assert 1 in await ops.free_doors()
    assert (await ops.order("ORD-C")).state is OrderState.ANNOUNCED
    status, body = await ops.courier_post(f"/api/v1/courier/load/{ticket['load']}/cancel")
    assert (status, body["error"]) == (409, Reason.ILLEGAL_TRANSITION)
    # the parcel can be loaded again afterwards
    assert (await ops.load("PCL:ORD-C:P1"))["door"] == 1


async def test_loading_needs_a_courier_or_staff_session(ops: OpsAgent) -> None:
    await ops.announce("ORD-AUTH")
    status, body = await ops.call("POST", "/api/v1/courier/load", {"label": "PCL:ORD-AUTH:P1"})
    assert (status, body["error"]) == (401, Reason.NOT_AUTHORISED)
    status, _ = await ops.call(
        "POST", "/api/v1/courier/load", {"label": "PCL:ORD-AUTH:P1"}, session=ops.staff
    )
    assert status == 200
    assert ops.sim.pulses == [1]


async def test_orders_past_loading_cannot_be_loaded(ops: OpsAgent) -> None:
    code = await ops.announce("ORD-DONE")
    await ops.load_and_close("PCL:ORD-DONE:P1")
    status, _ = await ops.call("POST", "/api/v1/pickup/code", {"code": code})
    assert status == 200
    status, body = await ops.courier_post("/api/v1/courier/load", {"label": "PCL:ORD-DONE:P2"})
    assert (status, body["error"]) == (409, Reason.ILLEGAL_TRANSITION)


async def test_the_sensor_poller_confirms_a_load_when_the_door_closes(ops: OpsAgent) -> None:
    await ops.announce("ORD-POLL", parcels=("P1", "P2"))
    first = await ops.load("PCL:ORD-POLL:P1")
    second = await ops.load("PCL:ORD-POLL:P2")
    assert first["door"] == second["door"]
    ops.sim.close_door(1)
    confirmed = await ops.agent.loading.confirm_closed(1, ops.clock.now())
    assert [c.load_id for c in confirmed] == [first["load"], second["load"]]
    order = await ops.order("ORD-POLL")
    assert (order.state, order.parcels) == (OrderState.LOADED, ("P1", "P2"))
    # the courier's own confirmation afterwards is harmless
    status, body = await ops.courier_post(f"/api/v1/courier/load/{first['load']}/confirm")
    assert (status, body["state"]) == (200, "loaded")
    assert len(await ops.events("order.loaded")) == 1


async def test_simultaneous_scans_never_share_or_double_book_a_door(ops: OpsAgent) -> None:
    for n in range(4):
        await ops.announce(f"ORD-Q{n}")
    answers = await asyncio.gather(
        *(
            ops.courier_post("/api/v1/courier/load", {"label": f"PCL:ORD-Q{n}:P1"})
            for n in range(4)
        ),
        ops.courier_post("/api/v1/courier/load", {"label": "PCL:ORD-Q0:P1"}),
    )
    statuses = sorted(status for status, _ in answers)
    assert statuses == [200, 200, 200, 200, 409]
    doors = [body["door"] for status, body in answers if status == 200]
    assert sorted(doors) == [1, 2, 3, 4]


async def test_unconfirmed_loads_are_listed_for_the_next_courier(ops: OpsAgent) -> None:
    ticket = await ops.load("PCL:ORD-PEND:P1", "S")
    status, body = await ops.call("GET", "/api/v1/courier/loads", session=ops.courier)
    assert status == 200
    loads = body["loads"]
    assert isinstance(loads, list)
    assert [(x["load"], x["order"], x["door"]) for x in loads] == [
        (ticket["load"], "ORD-PEND", ticket["door"])
    ]
    status, _ = await ops.call("GET", "/api/v1/courier/loads")
    assert status == 401
    await ops.courier_post(f"/api/v1/courier/load/{ticket['load']}/cancel")
    status, body = await ops.call("GET", "/api/v1/courier/loads", session=ops.courier)
    assert body["loads"] == []
