"""The same device and hub against RabbitMQ's MQTT plugin (MQTT 3.1.1), the path to scale out.

The fixture uses the machine's RabbitMQ (Debian's rabbitmq-server, AMQP on 127.0.0.1:5672). It
enables `rabbitmq_mqtt` with its MQTT listener on 127.0.0.1:1884 (1883 is Mosquitto's), both at
run time and in /etc/rabbitmq/rabbitmq.conf so a restart keeps the same port, and creates two
users for the run. Skipped only when RabbitMQ is not installed or cannot be started.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import secrets
import shutil
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from hub_sync.adapters.mqtt import MQTT_V311, ConnectParams, MqttConnection
from hub_sync.adapters.settings import SyncSettings
from hub_sync.device.outbox import ReferenceDevice
from hub_sync.device.sync import DeviceSync
from hub_sync.hub.reference.hub import Hub, HubSettings
from tests.hub_sync.conftest import (
    FLEET,
    HUB_KEY,
    RunningDevice,
    hub_keys,
    keyed_store,
    reply_key,
    wait_for,
)

pytestmark = pytest.mark.rabbitmq
MQTT_PORT = 1884
CONF = Path("/etc/rabbitmq/rabbitmq.conf")


def _ctl(*args: str, timeout: float = 60) -> str:
    out = subprocess.run(args, capture_output=True, text=True, timeout=timeout, check=True)
    return out.stdout


def _running() -> bool:
    try:
        _ctl("rabbitmqctl", "-q", "status", timeout=30)
    except (subprocess.SubprocessError, OSError):
        return False
    return True


def _mqtt_port() -> int | None:
    listeners = _ctl("rabbitmq-diagnostics", "-q", "listeners")
    match = re.search(r"port: (\d+), protocol: mqtt", listeners)
    return int(match.group(1)) if match else None


def _enable_mqtt() -> int:
    port = _mqtt_port()
    if port is not None:
        return port
    if CONF.exists() and "mqtt.listeners" not in CONF.read_text():
        with contextlib.suppress(OSError), CONF.open("a") as f:
            f.write(f"mqtt.listeners.tcp.default = 127.0.0.1:{MQTT_PORT}\n")
    env = f'[{{"127.0.0.1", {MQTT_PORT}}}]'
    _ctl("rabbitmqctl", "eval", "application:load(rabbitmq_mqtt), "
         f"application:set_env(rabbitmq_mqtt, tcp_listeners, {env}).")  # fmt: skip
    _ctl("rabbitmq-plugins", "enable", "rabbitmq_mqtt", timeout=120)
    port = _mqtt_port()
    if port is None:
        raise RuntimeError("rabbitmq_mqtt enabled but no MQTT listener")
    return port


def _add_user(name: str) -> str:
    password = secrets.token_hex(12)
    _ctl("rabbitmqctl", "add_user", name, password)
    _ctl("rabbitmqctl", "set_permissions", "-p", "/", name, ".*", ".*", ".*")
    return password


@dataclass(frozen=True)
class Rabbit:
    port: int
    hub_user: str
    hub_password: str
    device_user: str
    device_password: str


@pytest.fixture(scope="module")
def rabbit() -> Iterator[Rabbit]:
    if shutil.which("rabbitmqctl") is None:
        pytest.skip("RabbitMQ is not installed (apt-get install rabbitmq-server)")
    if not _running():
        with contextlib.suppress(subprocess.SubprocessError, OSError):
            _ctl("service", "rabbitmq-server", "start", timeout=120)
        if not _running():
            pytest.skip("RabbitMQ is installed but could not be started")
    port = _enable_mqtt()
    run = secrets.token_hex(3)  # users of this run only, removed at the end
    hub_user, device_user = f"lk-test-hub-{run}", f"lk-test-dev-{run}"
    yield Rabbit(port, hub_user, _add_user(hub_user), device_user, _add_user(device_user))
    for user in (hub_user, device_user):
        with contextlib.suppress(subprocess.SubprocessError):
            _ctl("rabbitmqctl", "delete_user", user)


async def _forget_session(rabbit: Rabbit, client_id: str, user: str, password: str) -> None:
    """A clean-session connect makes RabbitMQ delete the durable queue of that client id."""
    params = ConnectParams(host="127.0.0.1", port=rabbit.port, client_id=client_id,
                           username=user, password=password, protocol=MQTT_V311,
                           clean_start=True)  # fmt: skip
    conn = MqttConnection(params, lambda _m: None)
    await conn.connect()
    await conn.disconnect()


@pytest.mark.slow
async def test_drain_and_command_through_rabbitmq(rabbit: Rabbit, tmp_path: Path) -> None:
    run = secrets.token_hex(3)  # RabbitMQ keeps sessions across test runs: fresh ids each time
    device, hub_id = f"d{run}", f"lk-test-hub-{run}"
    store = keyed_store(tmp_path / "hub.db", (device,))
    params = ConnectParams(host="127.0.0.1", port=rabbit.port, client_id=hub_id,
                           username=rabbit.hub_user, password=rabbit.hub_password,
                           protocol=MQTT_V311)  # fmt: skip
    hub = Hub(HubSettings(fleet=FLEET, connect=params), store, sign_key=HUB_KEY)
    hub_task = asyncio.create_task(hub.run())
    dev = ReferenceDevice(tmp_path / "d1.db")
    settings = SyncSettings(host="127.0.0.1", port=rabbit.port, device_id=device, fleet_id=FLEET,
                            username=rabbit.device_user, password=rabbit.device_password,
                            protocol=MQTT_V311, backoff_min_s=0.1, backoff_max_s=1.0,
                            confirm_timeout_s=3.0)  # fmt: skip
    rd = RunningDevice(dev, DeviceSync(settings, dev, dev, dev, command_keys=hub_keys,
                                       clock=time.time, device_key=reply_key(settings.device_id)),
                       )  # fmt: skip
    await dev.append([("e", f"t{i}", {"i": i}) for i in range(2000)])
    try:
        await asyncio.wait_for(hub.connected.wait(), 20)
        rd.start()
        await wait_for(lambda: hub.applied >= 2000, 60, "2000 events through RabbitMQ")
        mid = await hub.send_command(device, "order.cancel", {"order_id": "o", "reason": "r"})
        assert (await hub.wait_reply(mid, 20)).status == "ok"
    finally:
        await rd.stop()
        hub_task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await hub_task
        await _forget_session(rabbit, device, rabbit.device_user, rabbit.device_password)
        await _forget_session(rabbit, hub_id, rabbit.hub_user, rabbit.hub_password)
    assert store.event_seqs(FLEET, device)[:2000] == list(range(1, 2001))
    await asyncio.to_thread(store.close)
    await asyncio.to_thread(dev.close)
