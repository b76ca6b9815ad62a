"""`locker-agent demo --hub mqtt://HOST:PORT`: the demo syncs with a hub through an anonymous
broker, serves pickups while the broker is down, and delivers once it is back."""

from __future__ import annotations

import asyncio
import contextlib
import os
import sys
import time
from collections.abc import AsyncIterator, Iterator, Mapping
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from agent.cli.demo import DEMO_FLEET, DEMO_LOCKER_ID
from hub_sync.adapters.mqtt import ConnectParams
from hub_sync.hub.reference.hub import Hub, HubSettings
from hub_sync.hub.reference.store import HubStore
from hub_sync.protocol.signing import load_private_key
from tests.integration.conftest import (
    Broker,
    RunningHub,
    agent_device_key,
    free_port,
    hub_events,
    json_lines,
    stop_hub,
    wait_for,
)


@pytest.fixture
def anonymous_broker(tmp_path: Path) -> Iterator[Broker]:
    """A Mosquitto anyone may use (how one tries the demo out); not started yet."""
    root = tmp_path / "anon-broker"
    root.mkdir()
    b = Broker(root=root, port=free_port())
    (root / "mosquitto.conf").write_text(
        f"listener {b.port} 127.0.0.1\nallow_anonymous true\npersistence false\n"
        f"log_dest file {root / 'mosquitto.log'}\n" + ("user root\n" if os.geteuid() == 0 else "")
    )
    try:
        yield b
    finally:
        b.kill()


def _keyed_store(db: Path, data_dir: Path) -> HubStore:
    """The demo hub's store, holding the demo locker's device key (in its data folder): it signs
    the locker's events and replies."""
    store = HubStore(db)
    store.add_device_key(DEMO_FLEET, DEMO_LOCKER_ID, agent_device_key(data_dir), time.time())
    return store


async def _start_demo_hub(broker: Broker, db: Path, data_dir: Path) -> RunningHub:
    params = ConnectParams(host="127.0.0.1", port=broker.port, client_id="hub-demo",
                           session_expiry_s=3600)  # fmt: skip
    settings = HubSettings(fleet=DEMO_FLEET, connect=params, backoff_min_s=0.05,
                           backoff_max_s=0.5)  # fmt: skip
    store = await asyncio.to_thread(_keyed_store, db, data_dir)
    # the demo's fleet command key (its path is in the demo's banner): it signs the confirms
    key = load_private_key((data_dir / "fleet" / "command.key.pem").read_bytes())
    hub = Hub(settings, store, sign_key=key)
    task = asyncio.create_task(hub.run(), name="test-demo-hub")
    async with asyncio.timeout(10):
        await hub.connected.wait()
    return RunningHub(hub, store, task)


class Demo:
    def __init__(self, proc: asyncio.subprocess.Process) -> None:
        self.proc = proc
        self.orders: list[Mapping[str, Any]] = []
        self.url = ""

    async def read_banner(self) -> None:
        assert self.proc.stdout is not None
        async with asyncio.timeout(30):
            while not self.url:
                line = (await self.proc.stdout.readline()).decode()
                assert line, "the demo exited before it was ready"
                for doc in json_lines(line):
                    if "kiosk_url" in doc:
                        self.url = str(doc["kiosk_url"]).rstrip("/")
                    elif "order" in doc:
                        self.orders.append(doc)


@pytest.fixture
async def demo(tmp_path: Path, anonymous_broker: Broker) -> AsyncIterator[Demo]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "agent", "demo", "--json", "--port", "0",
        "--data-dir", str(tmp_path / "demo"), "--hub", f"mqtt://127.0.0.1:{anonymous_broker.port}",
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.DEVNULL,
    )  # fmt: skip
    running = Demo(proc)
    try:
        await running.read_banner()
        yield running
    finally:
        if proc.returncode is None:
            proc.terminate()
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(15):
                    await proc.wait()
        if proc.returncode is None:
            proc.kill()
            await proc.wait()


async def _pick_up(demo: Demo, order: Mapping[str, Any]) -> None:
    async with (
        aiohttp.ClientSession() as http,
        http.post(demo.url + "/api/v1/pickup/code", json={"code": order["code"]}) as response,
    ):
        body = await response.json()
    assert (response.status, body["result"], body["door"]) == (200, "open", order["door"])


async def test_the_demo_syncs_through_a_broker_and_serves_while_it_is_down(
    tmp_path: Path, anonymous_broker: Broker, demo: Demo
) -> None:
    hub_db = tmp_path / "hub.db"

    async def collected_at_hub() -> set[str]:
        stored = await asyncio.to_thread(hub_events, hub_db, DEMO_LOCKER_ID, DEMO_FLEET)
        return {str(e.body["order"]) for e in stored if e.kind == "order.collected"}

    first, second = demo.orders[0], demo.orders[1]
    await _pick_up(demo, first)  # the broker has not started yet: the demo serves anyway
    anonymous_broker.start()
    hub = await _start_demo_hub(anonymous_broker, hub_db, tmp_path / "demo")
    try:
        await wait_for(lambda: _has(collected_at_hub, first), 30, "the first pickup at the hub")
        anonymous_broker.kill()
        await _pick_up(demo, second)
        assert str(second["order"]) not in await collected_at_hub()
        anonymous_broker.start()
        await wait_for(lambda: _has(collected_at_hub, second), 30, "the second pickup at the hub")
    finally:
        await stop_hub(hub)
    stored = await asyncio.to_thread(hub_events, hub_db, DEMO_LOCKER_ID, DEMO_FLEET)
    assert [e.seq for e in stored] == list(range(1, len(stored) + 1))
    assert demo.proc.returncode is None
    demo.proc.terminate()
    async with asyncio.timeout(15):
        assert await demo.proc.wait() == 0


async def _has(collected: Any, order: Mapping[str, Any]) -> bool:
    return str(order["order"]) in await collected()


async def test_a_demo_hub_url_that_is_not_mqtt_is_a_configuration_error(tmp_path: Path) -> None:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "agent", "demo", "--port", "0", "--data-dir", str(tmp_path / "d"),
        "--hub", "http://127.0.0.1:1883",
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    async with asyncio.timeout(30):
        _, err = await proc.communicate()
    assert proc.returncode == 2
    assert "--hub" in err.decode()
