"""Forged events are not stored: the fleet hub over the real NATS cluster and PostgreSQL.

Whoever can publish on the broker publishes events messages in d1's (and d2's) name before the
locker sends its own: unsigned, signed by another locker's key, d1's signed batch with one event
altered, and d1's genuine signature under d2's header. The hub refuses and counts each, raises
`EVENTS_UNSIGNED` / `EVENTS_BAD_SIGNATURE` for the device named, stores and confirms none of it;
the locker's own events under the same seqs then all arrive exactly once.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

from hub_sync.adapters.mqtt import MQTT_V311, ConnectParams, Inbound, MqttConnection
from hub_sync.hub.cluster import NatsCluster
from hub_sync.hub.db import connect_pool
from hub_sync.hub.worker import FleetWorker, WorkerSettings
from hub_sync.protocol.wire import Topics
from tests.fleet.conftest import (
    FLEET,
    HUB_KEY,
    enroll_devices,
    fleet_device,
    stop_devices,
    stop_hub_tasks,
)
from tests.hub_sync.conftest import wait_for
from tests.hub_sync.forged_events import VARIANTS, forgery
from tests.hub_sync.test_sync import backlog


async def test_forged_events_are_refused_alarmed_and_the_devices_own_arrive_once(
    cluster: NatsCluster, dsn: str, tmp_path: Path
) -> None:
    await enroll_devices(dsn, "d1", "d2")
    pool = await connect_pool(dsn)
    mqtt = [("127.0.0.1", n.mqtt_port) for n in cluster.nodes]
    worker = FleetWorker(WorkerSettings(FLEET, cluster.urls, mqtt, dsn, ack_wait_s=3), HUB_KEY)
    tasks = [asyncio.create_task(worker.run(pool))]
    confirms: list[Inbound] = []
    params = ConnectParams("127.0.0.1", cluster.nodes[1].mqtt_port, "mallory", protocol=MQTT_V311)
    mallory = MqttConnection(params, confirms.append)
    d1 = fleet_device(tmp_path, "d1", cluster.nodes[0].mqtt_port)
    try:
        await asyncio.wait_for(worker.consuming.wait(), 30)
        await mallory.connect()
        await mallory.subscribe([(Topics(FLEET, d).confirm, 0) for d in ("d1", "d2")])
        for variant in VARIANTS:
            forged = forgery(variant)
            await mallory.publish(Topics(FLEET, forged.device).events, forged.payload)
        await wait_for(lambda: worker.stats.refused_events == 4, 20, "four refused batches")
        await asyncio.sleep(0.3)  # a confirm would have been published with the refusal
        assert confirms == []
        assert worker.stats.stored == 0
        assert dict(worker.stats.alarms) == {"EVENTS_UNSIGNED": 1, "EVENTS_BAD_SIGNATURE": 3}
        async with pool.acquire() as conn:
            assert await conn.fetchval("SELECT count(*) FROM events") == 0
            alarms = {
                (r["device"], r["kind"])
                for r in await conn.fetch(
                    "SELECT device, kind FROM alarms WHERE cleared_at IS NULL"
                )
            }
        assert alarms == {
            ("d1", "EVENTS_UNSIGNED"), ("d1", "EVENTS_BAD_SIGNATURE"),
            ("d2", "EVENTS_BAD_SIGNATURE"),
        }  # fmt: skip

        await d1.device.append(backlog(10))  # the locker's own events, under the same seqs
        d1.start()

        async def drained() -> bool:
            return (await d1.device.stats()).depth == 0

        await wait_for(drained, 30, "the locker's events confirmed")
        async with pool.acquire() as conn:
            rows = await conn.fetch(
                "SELECT device, seq, kind, transaction_id FROM events ORDER BY device, seq"
            )
        assert [(r["device"], r["seq"], r["kind"], r["transaction_id"]) for r in rows] == [
            ("d1", i + 1, "order.collected", f"tx-{i}") for i in range(10)
        ]
        assert worker.stats.stored == 10
        assert worker.stats.refused_events == 4
    finally:
        await mallory.disconnect()
        await stop_devices([d1])
        await stop_hub_tasks(tasks, pool)
