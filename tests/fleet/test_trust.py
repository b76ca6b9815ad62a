"""Trust lifecycle: the hub publishes the pre-signed series on time; lockers never go stale."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import time
from pathlib import Path

import asyncpg
import pytest

from hub_sync.adapters.mqtt import MQTT_V311, ConnectParams, Inbound, MqttConnection
from hub_sync.hub.cluster import NatsCluster
from hub_sync.hub.db import connect_pool
from hub_sync.hub.leader import TRUST_ALARM, Leader, LeaderSettings, import_series
from hub_sync.hub.store import record_states
from hub_sync.hub.worker import FleetWorker, WorkerSettings
from hub_sync.protocol.strict_json import loads_strict
from hub_sync.protocol.wire import trust_topic
from provisioning.fleet import create_demo_fleet
from provisioning.keyfiles import load_descriptor, load_private_key
from provisioning.trust_series import DAY, presign_series
from tests.fleet.conftest import FLEET, HUB_KEY, PG_SERVER, stop_hub_tasks
from tests.hub_sync.conftest import wait_for


def _series(tmp_path: Path, start: float, count: int) -> Path:
    fleet = create_demo_fleet(tmp_path / "fleet", "locker-1", start)
    entries = [load_descriptor(fleet.directory / f"{n}.json") for n in ("issuing", "command")]
    out = tmp_path / "series"
    presign_series(load_private_key(fleet.root_private_paths[0]), entries, out,
                   first_version=2, start=start, count=count)  # fmt: skip
    return out


def _simulate(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "provisioning.hub_main", "simulate-trust", "--pg", PG_SERVER,
         *args],
        capture_output=True, text=True, timeout=240, check=False,
    )  # fmt: skip


def test_simulate_trust_30_days_with_the_hub_never_meets_trustlist_stale() -> None:
    done = _simulate("--days", "30")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "240 token checks" in done.stdout
    assert "TRUSTLIST_STALE never met" in done.stdout
    assert "(30)" in done.stdout  # a new bundle every simulated day
    assert "the locker's state reports trust {'version': 31," in done.stdout


def test_simulate_trust_without_the_hub_meets_trustlist_stale_and_exits_1() -> None:
    done = _simulate("--days", "10", "--no-hub")
    assert done.returncode == 1
    assert "refused 12x: TRUSTLIST_STALE" in done.stdout  # strict checks after day 7


async def test_a_locker_offline_through_rotations_gets_only_the_newest_retained_bundle(
    cluster: NatsCluster, dsn: str, tmp_path: Path
) -> None:
    now = [time.time()]
    series = _series(tmp_path, now[0], 5)
    mqtt = [("127.0.0.1", n.mqtt_port) for n in cluster.nodes]
    worker = FleetWorker(WorkerSettings(FLEET, cluster.urls, mqtt, dsn), HUB_KEY,
                         clock=lambda: now[0])  # fmt: skip
    leader = Leader(worker, LeaderSettings(), clock=lambda: now[0])
    pool = await connect_pool(dsn)
    task = asyncio.create_task(worker.run(pool))
    try:
        async with pool.acquire() as conn:
            assert await import_series(conn, FLEET, series) == 5
        await asyncio.wait_for(worker.mqtt_ready.wait(), 30)
        for _day in range(4):  # the locker is offline for all four rotations
            await leader.tick(pool)
            now[0] += DAY
        assert leader.published == [2, 3, 4, 5]
        got: list[Inbound] = []
        params = ConnectParams("127.0.0.1", cluster.nodes[2].mqtt_port, "late-locker",
                               protocol=MQTT_V311)  # fmt: skip
        mqtt_conn = MqttConnection(params, got.append)
        await mqtt_conn.connect()
        await mqtt_conn.subscribe([(trust_topic(FLEET), 1)])
        await wait_for(lambda: bool(got), 10, "the retained bundle")
        await mqtt_conn.disconnect()
        assert len(got) == 1
        assert got[0].retain
        assert loads_strict(got[0].payload)["version"] == 5
    finally:
        await stop_hub_tasks([task], pool)


@pytest.mark.parametrize("age_days", [4.0, 1.0])
async def test_a_locker_whose_bundle_is_older_than_half_the_grace_raises_an_alarm(
    dsn: str, age_days: float
) -> None:
    now = 1_900_000_000.0
    worker = FleetWorker(WorkerSettings(FLEET, [], [], dsn), HUB_KEY, clock=lambda: now)
    leader = Leader(worker, LeaderSettings(grace_s=7 * DAY), clock=lambda: now)
    pool = await connect_pool(dsn)
    try:
        state = {"trust": {"version": 9, "issued_at": now - age_days * DAY}}
        async with pool.acquire() as conn:
            await record_states(conn, [(FLEET, "d1", json.dumps(state).encode())], now)
        await leader.tick(pool)
        rows = await pool.fetch("SELECT device, kind, cleared_at FROM alarms")
        expected = [("d1", TRUST_ALARM, None)] if age_days > 3.5 else []
        assert [(r["device"], r["kind"], r["cleared_at"]) for r in rows] == expected
        fresh = {"trust": {"version": 10, "issued_at": now}}
        async with pool.acquire() as conn:
            await record_states(conn, [(FLEET, "d1", json.dumps(fresh).encode())], now)
        await leader.tick(pool)
        assert await pool.fetchval("SELECT count(*) FROM alarms WHERE cleared_at IS NULL") == 0
        assert await pool.fetchval("SELECT trust_version FROM devices") == 10
    finally:
        await pool.close()


async def test_the_locker_reports_its_bundle_in_state_and_the_hub_tracks_it(dsn: str) -> None:
    conn = await asyncpg.connect(dsn)
    try:
        state = {"trust": {"version": 3, "issued_at": 1_800_000_000, "next_update": 1}}
        await record_states(conn, [(FLEET, "d7", json.dumps(state).encode())], 5.0)
        row = await conn.fetchrow("SELECT trust_version, trust_issued_at FROM devices")
        assert row is not None
    finally:
        await conn.close()
    assert (row["trust_version"], row["trust_issued_at"]) == (3, 1_800_000_000.0)
