"""Staff tools and the customer's door help over real HTTP: sessions, audit actor, outbox."""

from agent.services.sessions import Role
from tests.agent.supervision.conftest import Locker


async def test_staff_tools_need_a_staff_session(locker: Locker) -> None:
    status, body = await locker.get("/api/v1/staff/inventory")
    assert (status, body["error"]) == (401, "NOT_AUTHORISED")
    courier = locker.running.agent.sessions.open_session("courier-1", Role.COURIER)
    async with locker.running.http.post(
        locker.url + "/api/v1/staff/doors/3/open",
        json={"reason": "x"},
        headers={"Authorization": f"Bearer {courier.session_id}"},
    ) as response:
        assert response.status == 401
    assert locker.sim.pulses == []


async def test_staff_open_a_door_with_a_reason_audited_under_their_id(locker: Locker) -> None:
    status, body = await locker.post(
        "/api/v1/staff/doors/9/open", {"reason": "cleaning"}, staff=True
    )
    assert (status, body) == (200, {"result": "open", "door": 9})
    assert locker.sim.pulses == [9]
    assert await locker.sweep(0.25) == []  # commanded, so not forced
    audit = await locker.rows("SELECT actor, detail FROM audit WHERE action = 'staff.open_door'")
    assert audit == [("staff-42", '{"by":"staff","door":9,"reason":"cleaning"}')]
    outbox = await locker.rows("SELECT kind FROM outbox WHERE kind LIKE 'staff.%'")
    assert outbox == [("staff.open_door",)]

    status, body = await locker.post("/api/v1/staff/doors/9/open", {}, staff=True)
    assert (status, body["error"]) == (400, "BAD_REQUEST")
    status, body = await locker.post("/api/v1/staff/doors/999/open", {"reason": "x"}, staff=True)
    assert (status, body["error"]) == (404, "DOOR_UNKNOWN")
    locker.sim.faults(10).relay_dead = True
    status, body = await locker.post("/api/v1/staff/doors/10/open", {"reason": "x"}, staff=True)
    assert (status, body["error"]) == (503, "DOOR_FAILED")
    assert await locker.rows("SELECT result FROM door_openings WHERE door = 10") == [("failed",)]


async def test_disable_enable_and_clear_fault(locker: Locker) -> None:
    status, body = await locker.post(
        "/api/v1/staff/doors/4/disable", {"reason": "hinge"}, staff=True
    )
    assert (status, body["result"]) == (200, "disabled")
    status, inventory = await locker.get("/api/v1/staff/inventory", staff=True)
    door4 = next(d for d in inventory["doors"] if d["door"] == 4)
    assert door4["enabled"] is False
    status, body = await locker.post("/api/v1/staff/doors/4/enable", staff=True)
    assert (status, body["result"]) == (200, "enabled")
    status, body = await locker.post("/api/v1/staff/doors/4/clear-fault", staff=True)
    assert (status, body["error"]) == (409, "DOOR_NOT_FAULTED")
    actions = await locker.rows(
        "SELECT action, actor FROM audit WHERE action LIKE 'staff.%' ORDER BY seq"
    )
    assert actions == [("staff.disable_door", "staff-42"), ("staff.enable_door", "staff-42")]


async def test_inventory_shows_orders_and_what_needs_attention(locker: Locker) -> None:
    order = locker.running.orders[0]
    locker.sim.faults(order.door).jammed = True
    await locker.post("/api/v1/pickup/code", {"code": order.code})
    await locker.sweep(6)
    status, inventory = await locker.get("/api/v1/staff/inventory", staff=True)
    assert status == 200
    door = next(d for d in inventory["doors"] if d["door"] == order.door)
    assert door["fault"] == "jammed"
    assert door["needs_attention"] == ["fault:jammed", "door_jammed"]
    assert door["sensor"] == "closed"
    assert [o["order"] for o in door["orders"]] == [order.order_id]
    assert door["orders"][0]["state"] == "loaded"
    held = [d for d in inventory["doors"] if d["orders"]]
    assert len(held) == len(locker.running.orders)


async def test_the_same_code_reopens_the_door_once_within_the_grace_period(
    locker: Locker,
) -> None:
    order = locker.running.orders[0]
    code = {"code": order.code}
    assert (await locker.post("/api/v1/pickup/code", code))[0] == 200
    await locker.sweep(0.25)
    locker.sim.close_door(order.door)
    await locker.sweep(20)
    status, body = await locker.post("/api/v1/pickup/code", code)
    assert (status, body["door"]) == (200, order.door)
    assert locker.sim.pulses == [order.door, order.door]
    status, body = await locker.post("/api/v1/pickup/code", code)
    assert (status, body["error"]) == (409, "ALREADY_USED")
    events = await locker.rows("SELECT kind FROM outbox WHERE kind = 'order.reopened'")
    assert events == [("order.reopened",)]


async def test_no_reopen_after_the_grace_period(locker: Locker) -> None:
    order = locker.running.orders[1]
    assert (await locker.post("/api/v1/pickup/code", {"code": order.code}))[0] == 200
    locker.clock.advance(61)
    status, body = await locker.post("/api/v1/pickup/code", {"code": order.code})
    assert (status, body["error"]) == (409, "ALREADY_USED")
    status, body = await locker.post("/api/v1/pickup/door-did-not-open", {"code": order.code})
    assert (status, body["error"]) == (409, "GRACE_EXPIRED")


async def test_door_did_not_open_on_a_jammed_door_keeps_the_parcel_collectable(
    locker: Locker,
) -> None:
    order = locker.running.orders[2]
    locker.sim.faults(order.door).jammed = True
    assert (await locker.post("/api/v1/pickup/code", {"code": order.code}))[0] == 200
    await locker.sweep(0.25)  # before the supervisor would call it jammed
    status, body = await locker.post("/api/v1/pickup/door-did-not-open", {"code": order.code})
    assert status == 200
    assert body["result"] == "jammed"
    assert "contact staff" in body["message"]
    assert locker.callbacks == [("fault", order.door)]
    rows = await locker.rows("SELECT state FROM orders WHERE order_id = ?", order.order_id)
    assert rows == [("loaded",)]
    detected = await locker.rows("SELECT detail FROM audit WHERE action = 'door.jammed'")
    assert '"detected_by":"customer"' in detected[0][0]
    assert await locker.sweep(6) == []  # not declared twice
    status, body = await locker.post("/api/v1/pickup/door-did-not-open", {"code": order.code})
    assert body["result"] == "jammed"  # asking again says the same


async def test_door_did_not_open_when_it_did(locker: Locker) -> None:
    order = locker.running.orders[0]
    await locker.post("/api/v1/pickup/code", {"code": order.code})
    status, body = await locker.post("/api/v1/pickup/door-did-not-open", {"code": order.code})
    assert (status, body["result"]) == (200, "open")
    await locker.sweep(0.25)
    locker.sim.close_door(order.door)
    await locker.sweep(3)
    status, body = await locker.post("/api/v1/pickup/door-did-not-open", {"code": order.code})
    assert body["result"] == "was_open"
    assert "enter your code again" in body["message"]
    status, body = await locker.post("/api/v1/pickup/door-did-not-open", {"code": "ZZZZ-ZZZZ"})
    assert (status, body["error"]) == (404, "CODE_UNKNOWN")


async def test_door_did_not_open_with_a_dead_sensor_flags_the_order(locker: Locker) -> None:
    order = locker.running.orders[0]
    locker.sim.faults(order.door).sensor_dead = True
    await locker.post("/api/v1/pickup/code", {"code": order.code})
    status, body = await locker.post("/api/v1/pickup/door-did-not-open", {"code": order.code})
    assert (status, body["result"]) == (200, "unknown")
    rows = await locker.rows(
        "SELECT state, needs_attention FROM orders WHERE order_id = ?", order.order_id
    )
    assert rows == [("collected", "door_unverified")]
    status, body = await locker.get(f"/api/v1/doors/{order.door}/state")
    assert body["state"] == "unknown"
