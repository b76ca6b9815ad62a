"""Exactly-once ingest over the real NATS cluster into real PostgreSQL, across kills."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import asyncpg
import pytest

from hub_sync.hub.cluster import NatsCluster
from tests.fleet.conftest import FLEET, Workers, enroll_devices, fleet_device, stop_devices
from tests.hub_sync.conftest import wait_for


async def _stored(dsn: str) -> dict[str, tuple[int, int, int]]:
    conn = await asyncpg.connect(dsn)
    try:
        rows = await conn.fetch(
            "SELECT device, count(*) AS n, count(DISTINCT seq) AS d, max(seq) AS top"
            " FROM events WHERE fleet = $1 GROUP BY device",
            FLEET,
        )
    finally:
        await conn.close()
    return {r["device"]: (int(r["n"]), int(r["d"]), int(r["top"])) for r in rows}


async def test_two_workers_store_every_event_once_and_confirms_drain_devices(
    cluster: NatsCluster, dsn: str, workers: Workers, tmp_path: Path
) -> None:
    workers.start()
    workers.start()
    await enroll_devices(dsn, "d0", "d1", "d2")
    devices = [fleet_device(tmp_path, f"d{i}", cluster.nodes[i % 3].mqtt_port) for i in range(3)]
    try:
        for d in devices:
            await d.device.append([("sim.event", f"tx-{i}", {"i": i}) for i in range(400)])
            d.start()

        async def drained() -> bool:
            depths = [(await d.device.stats()).depth for d in devices]
            return depths == [0, 0, 0]

        await wait_for(drained, 60, "every outbox confirmed by the hub")
        assert await _stored(dsn) == {f"d{i}": (400, 400, 400) for i in range(3)}
    finally:
        await stop_devices(devices)


@pytest.mark.slow
async def test_worker_sigkill_and_broker_node_kill_mid_drain_lose_nothing_store_nothing_twice(
    cluster: NatsCluster, dsn: str, workers: Workers, tmp_path: Path
) -> None:
    n = 3000
    workers.start()
    workers.start()
    await enroll_devices(dsn, "d0", "d1", "d2")
    devices = [fleet_device(tmp_path, f"d{i}", cluster.nodes[i % 3].mqtt_port) for i in range(3)]
    try:
        for d in devices:
            await d.device.append([("sim.event", f"tx-{i}", {"i": i}) for i in range(n)])
            d.start()

        async def some_stored() -> bool:
            return sum(v[0] for v in (await _stored(dsn)).values()) > 300

        await wait_for(some_stored, 60, "the drain to start")
        await asyncio.to_thread(workers.kill, 0)  # SIGKILL mid-batch: its unacked messages go to
        await asyncio.to_thread(cluster.kill, 2)  # the other worker; and a broker node (d2's)
        killed_at = time.monotonic()
        mid = sum(v[0] for v in (await _stored(dsn)).values())
        await asyncio.sleep(1.0)
        await asyncio.to_thread(cluster.start, 2)

        async def drained() -> bool:
            depths = [(await d.device.stats()).depth for d in devices]
            return depths == [0, 0, 0]

        await wait_for(drained, 90, "every outbox confirmed after the kills")
        assert time.monotonic() - killed_at < 90
        assert mid < 3 * n  # the kills really happened mid-drain
        assert await _stored(dsn) == {f"d{i}": (n, n, n) for i in range(3)}
        conn = await asyncpg.connect(dsn)
        try:
            through = await conn.fetch("SELECT device, through_seq FROM devices ORDER BY device")
            alarms = await conn.fetch("SELECT kind FROM alarms")
        finally:
            await conn.close()
        assert [(r["device"], r["through_seq"]) for r in through] == [
            (f"d{i}", n) for i in range(3)
        ]
        assert alarms == []  # redelivered duplicates are identical: no SEQ_BACKWARDS
    finally:
        await stop_devices(devices)
