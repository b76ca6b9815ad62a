"""A real 3-node NATS cluster (MQTT + JetStream) and a real PostgreSQL database per test.

The cluster runs on free loopback ports under the test's tmp dir and is stopped at teardown (a
node the test killed included). Each test gets its own database `lkhub_t_<random>` on the
machine's PostgreSQL (127.0.0.1:5432, user postgres; `HUB_TEST_PG` overrides), dropped after.
Workers run as real processes (`python -m hub_sync.hub.cli worker`) so a test can SIGKILL one.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import asyncpg
import pytest
from cryptography.hazmat.primitives import serialization

from hub_sync.adapters.mqtt import MQTT_V311
from hub_sync.adapters.settings import SyncSettings
from hub_sync.device.outbox import ReferenceDevice
from hub_sync.device.sync import DeviceSync
from hub_sync.errors import ClusterError
from hub_sync.hub.audit import enroll_device_key
from hub_sync.hub.cluster import NatsCluster, wait_ready
from hub_sync.hub.db import create_database, drop_database, migrate
from hub_sync.protocol.wire import Header, encode, new_message_id
from tests.hub_sync.conftest import (
    FLEET,
    HUB_KEY,
    RunningDevice,
    device_key_pem,
    hub_keys,
    reply_key,
)

PG_SERVER = os.environ.get("HUB_TEST_PG", "postgresql://postgres:postgres@127.0.0.1:5432/postgres")
__all__ = ["FLEET", "HUB_KEY"]


@pytest.fixture
async def cluster(tmp_path: Path) -> AsyncIterator[NatsCluster]:
    c = NatsCluster(tmp_path / "nats")
    try:
        await asyncio.to_thread(c.start)
        await wait_ready(c)
    except ClusterError as err:
        await asyncio.to_thread(c.stop)
        pytest.fail(f"NATS cluster: {err} (scripts/system-deps.sh installs nats-server)")
    try:
        yield c
    finally:
        await asyncio.to_thread(c.stop)


@pytest.fixture
async def dsn() -> AsyncIterator[str]:
    name = f"lkhub_t_{secrets.token_hex(6)}"
    url = await create_database(PG_SERVER, name)
    conn = await asyncpg.connect(url)
    try:
        await migrate(conn)
    finally:
        await conn.close()
    try:
        yield url
    finally:
        await drop_database(PG_SERVER, name)


@pytest.fixture
def sign_key_file(tmp_path: Path) -> Path:
    path = tmp_path / "command.key.pem"
    path.write_bytes(
        HUB_KEY.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return path


@dataclass
class Workers:
    """Hub worker processes; `kill(i)` is SIGKILL, teardown stops the rest."""

    argv: list[str]
    log_dir: Path
    procs: list[subprocess.Popen[bytes]] = field(default_factory=list)

    def start(self) -> subprocess.Popen[bytes]:
        log = (self.log_dir / f"worker{len(self.procs)}.log").open("ab")
        proc = subprocess.Popen(
            [sys.executable, "-m", "hub_sync.hub.cli", "worker", *self.argv],
            stdout=log, stderr=subprocess.STDOUT,
        )  # fmt: skip
        log.close()
        self.procs.append(proc)
        return proc

    def kill(self, i: int) -> None:
        self.procs[i].send_signal(signal.SIGKILL)
        self.procs[i].wait(10)

    def stop(self) -> None:
        for p in self.procs:
            if p.poll() is None:
                p.terminate()
        for p in self.procs:
            try:
                p.wait(10)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait(5)


def worker_argv(cluster: NatsCluster, dsn: str, key: Path, *extra: str) -> list[str]:
    return [
        "--fleet", FLEET, "--dsn", dsn, "--nats", ",".join(cluster.urls),
        "--mqtt", ",".join(f"127.0.0.1:{n.mqtt_port}" for n in cluster.nodes),
        "--sign-key", str(key), "--ack-wait", "3", *extra,
    ]  # fmt: skip


@pytest.fixture
def workers(
    cluster: NatsCluster, dsn: str, sign_key_file: Path, tmp_path: Path
) -> Iterator[Workers]:
    w = Workers(worker_argv(cluster, dsn, sign_key_file), tmp_path)
    try:
        yield w
    finally:
        w.stop()


async def enroll_devices(dsn: str, *names: str) -> None:
    """Register the test devices' keys with the fleet hub, as enrollment does: the hub stores
    only events signed by them (and takes only replies signed by them)."""
    conn = await asyncpg.connect(dsn)
    try:
        for name in names:
            await enroll_device_key(conn, FLEET, name, device_key_pem(name), 1.0)
    finally:
        await conn.close()


def fleet_device(tmp_path: Path, name: str, port: int) -> RunningDevice:
    """The reference device (own SQLite file) speaking MQTT 3.1.1 to one cluster node."""
    settings = SyncSettings(
        host="127.0.0.1", port=port, device_id=name, fleet_id=FLEET, protocol=MQTT_V311,
        backoff_min_s=0.05, backoff_max_s=0.5, confirm_timeout_s=2.0, batch_size=100,
    )  # fmt: skip
    device = ReferenceDevice(tmp_path / f"{name}.db")
    sync = DeviceSync(settings, device, device, device, command_keys=hub_keys, clock=time.time,
                      device_key=reply_key(name))  # fmt: skip
    return RunningDevice(device, sync)


def state_message(
    device: str, snapshot: Mapping[str, object], *, depth: int = 0, oldest: float | None = None
) -> bytes:
    """A retained `state` message as `Publisher._maybe_state` builds it (wire form)."""
    header = Header("state", new_message_id(), FLEET, device, time.time())
    return encode(header, {"state": snapshot, "outbox": {"depth": depth,
                                                         "oldest_created_at": oldest}})  # fmt: skip


async def stop_hub_tasks(tasks: list[asyncio.Task[None]], pool: asyncpg.Pool) -> None:
    """Cancel in-process worker/leader tasks and close the pool, bounded (never hang teardown)."""
    for t in tasks:
        t.cancel()
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(asyncio.gather(*tasks, return_exceptions=True), 10)
    try:
        await asyncio.wait_for(pool.close(), 10)
    except TimeoutError:
        pool.terminate()
        pytest.fail("the hub's pool did not close in 10 s: a connection was never released")


async def stop_devices(devices: list[RunningDevice]) -> None:
    for d in devices:
        await d.stop()
        with contextlib.suppress(Exception):
            await asyncio.to_thread(d.device.close)
