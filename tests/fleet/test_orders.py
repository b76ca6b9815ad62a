"""Order intake over HTTP → signed commands over the real cluster → locker answers → KPIs."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import secrets
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import asyncpg
import pytest
from aiohttp import web

from hub_sync.hub.api import make_app
from hub_sync.hub.audit import enroll_device_key
from hub_sync.hub.cluster import NatsCluster
from hub_sync.hub.db import connect_pool
from hub_sync.hub.leader import Leader, LeaderSettings
from hub_sync.hub.orders import OrderService
from hub_sync.hub.worker import FleetWorker, WorkerSettings
from hub_sync.protocol.commands import decode_command
from provisioning.hub_orders import FleetCredentials
from provisioning.keyfiles import generate_key
from tests.fleet.conftest import FLEET, HUB_KEY, fleet_device, stop_devices, stop_hub_tasks
from tests.hub_sync.conftest import RunningDevice, device_key_pem, wait_for

API_KEY = "k-" + secrets.token_hex(8)


@dataclass
class Hub:
    http: aiohttp.ClientSession
    url: str
    pool: asyncpg.Pool
    keys: dict[str, bytes]
    devices: dict[str, RunningDevice]

    async def call(self, method: str, path: str, body: Any = None, *, auth: bool = True) -> Any:
        headers = {"Authorization": f"Bearer {API_KEY}"} if auth else {}
        async with self.http.request(method, self.url + path, json=body, headers=headers) as r:
            data = await r.json() if r.content_type == "application/json" else await r.text()
            return r.status, data

    async def command_status(self, order_id: str) -> list[tuple[str, str, str]]:
        _, order = await self.call("GET", f"/v1/orders/{order_id}")
        return [(c["locker"], c["name"], c["status"]) for c in order["commands"]]


@pytest.fixture
async def hub(cluster: NatsCluster, dsn: str, tmp_path: Path) -> AsyncIterator[Hub]:
    enrolled = tmp_path / "enrolled"
    keys = {}
    for name in ("d1", "d2"):
        (enrolled / name).mkdir(parents=True)
        keys[name] = secrets.token_bytes(32)
        (enrolled / name / "typed-code.key").write_text(keys[name].hex())
    pool = await connect_pool(dsn)
    async with pool.acquire() as conn:  # the lockers' device keys: they sign the replies
        for name in ("d1", "d2"):
            await enroll_device_key(conn, FLEET, name, device_key_pem(name), 1.0)
    mqtt = [("127.0.0.1", n.mqtt_port) for n in cluster.nodes]
    worker = FleetWorker(WorkerSettings(FLEET, cluster.urls, mqtt, dsn, ack_wait_s=3), HUB_KEY)
    leader = Leader(worker, LeaderSettings(poll_s=0.2))
    tasks = [asyncio.create_task(worker.run(pool)), asyncio.create_task(leader.run())]
    creds = FleetCredentials(generate_key("es256"), enrolled)
    app = make_app(OrderService(pool, FLEET, HUB_KEY, creds), pool, FLEET, API_KEY)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    devices = {n: fleet_device(tmp_path, n, cluster.nodes[i].mqtt_port)
               for i, n in enumerate(("d1", "d2"))}  # fmt: skip
    async with aiohttp.ClientSession() as http:
        try:
            await asyncio.wait_for(worker.consuming.wait(), 30)
            yield Hub(http, f"http://127.0.0.1:{port}", pool, keys, devices)
        finally:
            await stop_devices(list(devices.values()))
            await asyncio.wait_for(runner.cleanup(), 10)
            await stop_hub_tasks(tasks, pool)


NEW: dict[str, Any] = {"order_id": "o-1", "locker": "d1", "size": "M", "hold_s": 3 * 86400,
       "policy": {"id_check": False}}  # fmt: skip


async def test_an_order_for_an_offline_locker_is_queued_acked_on_return_and_never_kept_in_clear(
    hub: Hub,
) -> None:
    status, made = await hub.call("POST", "/v1/orders", NEW)
    assert status == 201
    assert made["token"].startswith("LK1:")
    assert len(made["code"]) == 8
    assert await hub.command_status("o-1") == [("d1", "order.upsert", "pending")]
    # the signed upsert carries the keyed digest of the code, never the code
    payload = await hub.pool.fetchval("SELECT payload FROM commands WHERE order_id = 'o-1'")
    cmd = decode_command(bytes(payload))
    expected = hmac.new(hub.keys["d1"], made["code"].encode(), hashlib.sha256).hexdigest()
    assert cmd.args["code"] == {"scheme": "hmac-sha256", "digest": expected}
    rows = []
    for table in ("orders", "commands", "events", "devices"):
        rows += await hub.pool.fetch(f"SELECT * FROM {table}")  # noqa: S608 (fixed names)
    dump = " ".join(str(tuple(r)) for r in rows)
    assert made["code"] not in dump
    assert made["token"][4:40] not in dump
    d1 = hub.devices["d1"]
    d1.start()  # the locker comes online: its persistent session / the re-send delivers it

    async def acked() -> bool:
        return await hub.command_status("o-1") == [("d1", "order.upsert", "ok")]

    await wait_for(acked, 30, "the locker's ack")
    assert d1.device.order_ids() == ["o-1"]


async def test_cancel_extend_and_redirect_reach_the_lockers_and_results_are_queryable(
    hub: Hub,
) -> None:
    for d in hub.devices.values():
        d.start()
    assert (await hub.call("POST", "/v1/orders", NEW))[0] == 201
    assert (await hub.call("POST", "/v1/orders/o-1/extend", {"extend_s": 3600}))[0] == 202
    status, moved = await hub.call("POST", "/v1/orders/o-1/redirect",
                                   {"locker": "d2", "reason": "locker full"})  # fmt: skip
    assert status == 202
    assert moved["locker"] == "d2"
    assert len(moved["code"]) == 8
    expected = [("d1", "order.upsert", "ok"), ("d1", "order.extend", "ok"),
                ("d1", "order.redirect", "ok"), ("d2", "order.upsert", "ok")]  # fmt: skip

    async def all_acked() -> bool:
        return sorted(await hub.command_status("o-1")) == sorted(expected)

    await wait_for(all_acked, 30, "every command acknowledged")
    assert hub.devices["d2"].device.order_ids() == ["o-1"]
    assert (await hub.call("POST", "/v1/orders/o-1/cancel", {"reason": "customer"}))[0] == 202
    status, refused = await hub.call("POST", "/v1/orders/o-1/cancel", {"reason": "again"})
    assert (status, refused["reason"]) == (409, "ILLEGAL_TRANSITION")
    _, order = await hub.call("GET", "/v1/orders/o-1")
    assert (order["state"], order["locker"]) == ("cancelled", "d2")


async def test_pickup_event_reaches_the_order_and_the_kpis(hub: Hub) -> None:
    d1 = hub.devices["d1"]
    d1.start()
    assert (await hub.call("POST", "/v1/orders", NEW))[0] == 201
    await d1.device.append([("order.collected", "tx-c", {"order_id": "o-1", "door": 3})])
    d1.sync.outbox_changed()

    async def collected() -> bool:
        _, order = await hub.call("GET", "/v1/orders/o-1")
        return any(e["kind"] == "order.collected" for e in order["events"])

    await wait_for(collected, 30, "the pickup event at the hub")
    status, text = await hub.call("GET", "/metrics", auth=False)
    assert status == 200
    assert f'lkhub_orders_collected{{fleet="{FLEET}",sla="in_time"}} 1.0' in text
    assert f'lkhub_locker_online{{fleet="{FLEET}",locker="d1"}} 1.0' in text
    assert "lkhub_dwell_p50_seconds" in text
    _, fleet = await hub.call("GET", "/v1/fleet")
    assert [lk["locker"] for lk in fleet["lockers"]] == ["d1"]
    assert fleet["sla_collected_in_time"] == 1


BAD: list[tuple[str, str, object, bool, int, str]] = [
    ("POST", "/v1/orders", NEW, False, 401, "UNAUTHORIZED"),
    ("POST", "/v1/orders", {**NEW, "size": "XL"}, True, 400, "BAD_REQUEST"),
    ("POST", "/v1/orders", {**NEW, "hold_s": 10**9}, True, 400, "BAD_REQUEST"),
    ("POST", "/v1/orders", {**NEW, "policy": {"id_check": "yes"}}, True, 400, "BAD_REQUEST"),
    ("POST", "/v1/orders", {**NEW, "locker": "a/b"}, True, 400, "BAD_REQUEST"),
    ("POST", "/v1/orders", {**NEW, "locker": "d9"}, True, 404, "LOCKER_UNKNOWN"),
    ("POST", "/v1/orders", [1, 2], True, 400, "BAD_REQUEST"),
    ("GET", "/v1/orders/nope", None, True, 404, "ORDER_UNKNOWN"),
    ("POST", "/v1/orders/nope/extend", {"extend_s": 5}, True, 404, "ORDER_UNKNOWN"),
]


async def test_bad_requests_get_a_4xx_an_order_is_created_once_and_openapi_is_served(
    hub: Hub,
) -> None:
    for method, path, body, auth, status, reason in BAD:
        got, data = await hub.call(method, path, body, auth=auth)
        assert (got, data["reason"]) == (status, reason), (method, path, body)
    async with hub.http.post(hub.url + "/v1/orders", data=b"{not json",
                             headers={"Authorization": f"Bearer {API_KEY}"}) as r:  # fmt: skip
        assert (r.status, (await r.json())["reason"]) == (400, "BAD_REQUEST")
    assert await hub.pool.fetchval("SELECT count(*) FROM orders") == 0
    assert (await hub.call("POST", "/v1/orders", NEW))[0] == 201
    status, again = await hub.call("POST", "/v1/orders", NEW)
    assert (status, again["reason"]) == (409, "ORDER_EXISTS")
    assert "token" not in again
    status, doc = await hub.call("GET", "/openapi.json", auth=False)
    assert status == 200
    assert set(doc["paths"]) >= {"/v1/orders", "/v1/orders/{order_id}/redirect", "/metrics"}
