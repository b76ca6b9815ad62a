import asyncio
import sqlite3

from agent.reasons import Reason
from tests.agent.conftest import RunningAgent


async def test_a_typed_code_opens_its_door_once(running: RunningAgent) -> None:
    order = running.orders[0]
    status, body = await running.post("/api/v1/pickup/code", {"code": order.code})
    assert status == 200
    assert body == {
        "result": "open",
        "door": order.door,
        "order": order.order_id,
        "message": f"Door {order.door} is open",
    }
    assert running.sim.pulses == [order.door]

    # within the reopen grace period the same code opens the same door once more
    status, body = await running.post("/api/v1/pickup/code", {"code": order.code})
    assert (status, body["door"], body.get("reopened")) == (200, order.door, True)
    status, body = await running.post("/api/v1/pickup/code", {"code": order.code})
    assert status == 409
    assert body["error"] == Reason.ALREADY_USED
    assert "Already used" in str(body["message"])
    assert running.sim.pulses == [order.door, order.door]


async def test_after_the_grace_period_a_used_code_is_refused(running: RunningAgent) -> None:
    order = running.orders[0]
    assert (await running.post("/api/v1/pickup/code", {"code": order.code}))[0] == 200
    running.clock.advance(61)
    status, body = await running.post("/api/v1/pickup/code", {"code": order.code})
    assert (status, body["error"]) == (409, Reason.ALREADY_USED)
    assert running.sim.pulses == [order.door]


async def test_codes_are_forgiving_about_case_hyphens_and_confusable_letters(
    running: RunningAgent,
) -> None:
    code = running.orders[1].code.lower().replace("-", " ")
    code = code.replace("0", "o").replace("1", "l")
    status, _ = await running.post("/api/v1/pickup/code", {"code": code})
    assert status == 200


async def test_a_wrong_code_is_404_with_a_user_message(running: RunningAgent) -> None:
    status, body = await running.post("/api/v1/pickup/code", {"code": "ZZZZ-ZZZZ"})
    assert status == 404
    assert body["error"] == Reason.CODE_UNKNOWN
    assert running.sim.pulses == []


async def test_repeated_wrong_codes_are_rate_limited_but_the_limit_passes(
    running: RunningAgent,
) -> None:
    for _ in range(5):
        status, _ = await running.post("/api/v1/pickup/code", {"code": "ZZZZ-ZZZZ"})
        assert status == 404
    status, body = await running.post("/api/v1/pickup/code", {"code": running.orders[0].code})
    assert status == 429
    assert body["error"] == Reason.RATE_LIMITED
    running.clock.advance(61)
    status, _ = await running.post("/api/v1/pickup/code", {"code": running.orders[0].code})
    assert status == 200


async def test_malformed_bodies_get_400_with_a_reason(running: RunningAgent) -> None:
    for raw in (b"not json", b"[1, 2]", b'{"code": 5}', b'{"code": ""}', b"{}"):
        async with running.http.post(
            running.url + "/api/v1/pickup/code",
            data=raw,
            headers={"Content-Type": "application/json"},
        ) as response:
            body = await response.json()
            assert response.status == 400, raw
            assert body["error"] == Reason.BAD_REQUEST
            assert body["detail"]


async def test_an_oversized_body_is_refused(running: RunningAgent) -> None:
    status, body = await running.post("/api/v1/pickup/code", {"code": "x" * 100_000})
    assert status in {400, 413}
    assert "error" in body or status == 413


async def test_two_simultaneous_pickups_with_one_code_open_exactly_one_door(
    running: RunningAgent,
) -> None:
    code = running.orders[2].code
    results = await asyncio.gather(
        *(running.post("/api/v1/pickup/code", {"code": code}) for _ in range(8))
    )
    statuses = sorted(status for status, _ in results)
    assert statuses == [200] + [409] * 7
    assert running.sim.pulses == [running.orders[2].door]


async def test_a_failed_door_keeps_the_order_collectable(running: RunningAgent) -> None:
    order = running.orders[0]
    running.sim.faults(order.door).relay_dead = True
    status, body = await running.post("/api/v1/pickup/code", {"code": order.code})
    assert status == 503
    assert body["error"] == Reason.DOOR_FAILED
    assert "still works" in str(body["message"])
    running.sim.faults(order.door).relay_dead = False
    status, _ = await running.post("/api/v1/pickup/code", {"code": order.code})
    assert status == 200

    conn = sqlite3.connect(running.agent.config.database_path)
    kinds = [r[0] for r in conn.execute("SELECT kind FROM outbox ORDER BY seq")]
    conn.close()
    assert "door.open_failed" in kinds
    assert kinds[-1] == "order.collected"


async def test_every_pickup_is_in_the_outbox_and_audit(running: RunningAgent) -> None:
    order = running.orders[0]
    await running.post("/api/v1/pickup/code", {"code": order.code})
    conn = sqlite3.connect(running.agent.config.database_path)
    outbox = conn.execute("SELECT kind, body FROM outbox WHERE kind = 'order.collected'").fetchall()
    audit = [r[0] for r in conn.execute("SELECT action FROM audit ORDER BY seq")]
    conn.close()
    assert len(outbox) == 1
    assert order.order_id in outbox[0][1]
    assert order.code.replace("-", "") not in outbox[0][1]
    # the supervisor and the audit signer run alongside: look at the pickup's own entries
    pickup_entries = [a for a in audit if a in {"order.collected", "door.opened"}]
    assert pickup_entries == ["order.collected", "door.opened"]


async def test_health_and_status(running: RunningAgent) -> None:
    status, body = await running.get("/api/v1/health")
    assert (status, body["status"]) == (200, "ok")
    status, body = await running.get("/api/v1/status")
    assert status == 200
    doors = body["doors"]
    assert isinstance(doors, list)
    assert len(doors) == 24
    assert sum(1 for d in doors if d["occupied"]) == len(running.orders)
    assert {d["sensor"] for d in doors} == {"closed"}
    assert body["orders"] == {"loaded": len(running.orders)}
    versions = body["versions"]
    assert isinstance(versions, dict)
    assert versions["schema"] >= 1


async def test_unknown_paths_are_json_404(running: RunningAgent) -> None:
    status, body = await running.get("/api/v1/nope")
    assert status == 404
    assert body["error"] == Reason.NOT_FOUND


async def test_the_kiosk_page_is_served(running: RunningAgent) -> None:
    async with running.http.get(running.url + "/") as response:
        assert response.status == 200
        text = await response.text()
    assert 'id="code"' in text
    async with running.http.get(running.url + "/kiosk/kiosk.js") as response:
        assert response.status == 200
    async with running.http.get(running.url + "/kiosk/..%2fweb.py") as response:
        assert response.status == 404


async def test_metrics_count_pickups_by_result_in_prometheus_format(
    running: RunningAgent,
) -> None:
    await running.post("/api/v1/pickup/code", {"code": running.orders[0].code})
    await running.post("/api/v1/pickup/code", {"code": "ZZZZ-ZZZZ"})
    await running.post("/api/v1/pickup/scan", {"payload": "LK1:NOPE"})
    async with running.http.get(running.url + "/metrics") as response:
        assert response.status == 200
        assert response.content_type == "text/plain"
        text = await response.text()
    assert 'locker_typed_code_pickups_total{result="open"} 1.0' in text
    assert 'locker_typed_code_pickups_total{result="CODE_UNKNOWN"} 1.0' in text
    assert "# TYPE locker_typed_code_pickups_total counter" in text
    assert 'locker_scans_total{result="' in text
    assert running.orders[0].code not in text
