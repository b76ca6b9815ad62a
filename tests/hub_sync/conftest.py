"""A real Mosquitto per test: password file, ACL with `pattern` lines per username, MQTT 5.

The broker runs on a free loopback port in a temp dir and is killed at teardown. `Broker.restart`
kills it with SIGKILL (losing whatever it held in memory) and starts it again on the same port.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import AsyncIterator, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519

from hub_sync.adapters.mqtt import ConnectParams, Inbound, MqttConnection
from hub_sync.adapters.settings import SyncSettings
from hub_sync.device.outbox import ReferenceDevice
from hub_sync.device.sync import DeviceSync
from hub_sync.hub.reference.hub import Hub, HubSettings
from hub_sync.hub.reference.store import HubStore
from hub_sync.protocol.event_sig import sign_events
from hub_sync.protocol.reply_sig import ReplyKey
from hub_sync.protocol.signing import PublicKey
from hub_sync.protocol.wire import Header, OutboxEvent, encode_events
from tests.hub_sync.tls import write_ca_and_server

FLEET = "f1"
HUB_USER, HUB_PASSWORD = "hub", "hub-secret"
DEVICES = ("d1", "d2", "d3")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def acl_text(fleet: str) -> str:
    return "\n".join(
        [
            f"user {HUB_USER}",
            f"topic readwrite lk/v1/{fleet}/#",
            "",
            f"pattern write lk/v1/{fleet}/%u/evt",
            f"pattern write lk/v1/{fleet}/%u/reply",
            f"pattern write lk/v1/{fleet}/%u/state",
            f"pattern write lk/v1/{fleet}/%u/status",
            f"pattern write lk/v1/{fleet}/%u/photo",
            f"pattern read lk/v1/{fleet}/%u/cmd",
            f"pattern read lk/v1/{fleet}/%u/confirm",
            f"pattern read lk/v1/{fleet}/%u/photo_ack",
            f"pattern read lk/v1/{fleet}/trust",
            f"pattern read lk/v1/{fleet}/hub",
            "",
        ]
    )


@dataclass
class Broker:
    root: Path
    port: int
    passwords: dict[str, str] = field(default_factory=dict)
    proc: subprocess.Popen[bytes] | None = None
    tls_port: int = 0
    ca: Path | None = None

    def write_config(self) -> Path:
        pwfile = self.root / "passwd"
        for i, (user, pw) in enumerate(self.passwords.items()):
            flags = ["-c"] if i == 0 else []
            subprocess.run(
                ["mosquitto_passwd", *flags, "-b", str(pwfile), user, pw],
                check=True, capture_output=True,
            )  # fmt: skip
        (self.root / "acl").write_text(acl_text(FLEET))
        conf = self.root / "mosquitto.conf"
        conf.write_text(
            self._tls_listener() + f"listener {self.port} 127.0.0.1\n"
            "allow_anonymous false\n"
            f"password_file {pwfile}\n"
            f"acl_file {self.root / 'acl'}\n"
            "persistence true\n"
            f"persistence_location {self.root}/\n"
            "max_queued_messages 0\n"
            "max_inflight_messages 100\n"
            "set_tcp_nodelay true\n"
            f"log_dest file {self.root / 'mosquitto.log'}\n"
            "log_type error\nlog_type warning\nlog_type notice\n"
            # as root, mosquitto would drop to a user that cannot read this private temp dir
             + ("user root\n" if os.geteuid() == 0 else "")
        )
        return conf

    def _tls_listener(self) -> str:
        """A second listener with TLS (server certificate from a throwaway CA)."""
        self.ca, cert, key = write_ca_and_server(self.root)
        self.tls_port = free_port()
        return (
            "per_listener_settings false\n"
            f"listener {self.tls_port} 127.0.0.1\n"
            f"cafile {self.ca}\ncertfile {cert}\nkeyfile {key}\n"
        )

    def start(self) -> None:
        conf = self.root / "mosquitto.conf"
        exe = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
        self.proc = subprocess.Popen([exe, "-c", str(conf)], stdout=subprocess.DEVNULL,
                                     stderr=subprocess.DEVNULL)  # fmt: skip
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and self.proc.poll() is None:
            with (
                contextlib.suppress(OSError),
                socket.create_connection(("127.0.0.1", self.port), 0.2),
            ):
                return
            time.sleep(0.02)
        self.kill()
        log = self.root / "mosquitto.log"
        raise RuntimeError(f"mosquitto did not start: {log.read_text() if log.exists() else ''}")

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(5)
        self.proc = None

    def restart(self) -> None:
        self.kill()
        self.start()

    def device_settings(self, device: str, **kw: object) -> SyncSettings:
        defaults: dict[str, object] = {"backoff_min_s": 0.05, "backoff_max_s": 0.5}
        defaults.update(kw)
        return SyncSettings(
            host="127.0.0.1", port=self.port, device_id=device, fleet_id=FLEET,
            username=device, password=self.passwords[device], **defaults,  # type: ignore[arg-type]
        )  # fmt: skip

    def hub_settings(self, **kw: object) -> HubSettings:
        params = ConnectParams(
            host="127.0.0.1", port=self.port, client_id=f"hub-{FLEET}", username=HUB_USER,
            password=HUB_PASSWORD, session_expiry_s=3600,
        )  # fmt: skip
        defaults: dict[str, object] = {"backoff_min_s": 0.05, "backoff_max_s": 0.5}
        defaults.update(kw)
        return HubSettings(fleet=FLEET, connect=params, **defaults)  # type: ignore[arg-type]


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[Broker]:
    if shutil.which("mosquitto") is None and not Path("/usr/sbin/mosquitto").exists():
        pytest.fail("mosquitto is not installed: run scripts/system-deps.sh")
    root = tmp_path / "broker"
    root.mkdir()
    b = Broker(root=root, port=free_port())
    b.passwords = {HUB_USER: HUB_PASSWORD, **{d: f"pw-{d}" for d in DEVICES}}
    b.write_config()
    b.start()
    try:
        yield b
    finally:
        b.kill()


def keyed_store(path: Path, devices: tuple[str, ...] = DEVICES, fleet: str = FLEET) -> HubStore:
    """A reference hub store holding the test devices' keys (it verifies their replies)."""
    store = HubStore(path)
    for d in devices:
        store.add_device_key(fleet, d, raw_device_key(d), 0.0)
    return store


@dataclass
class RunningHub:
    hub: Hub
    store: HubStore
    task: asyncio.Task[None]


@pytest.fixture
async def hub(broker: Broker, tmp_path: Path) -> AsyncIterator[RunningHub]:
    store = keyed_store(tmp_path / "hub.db")
    h = Hub(broker.hub_settings(), store, sign_key=HUB_KEY)
    task = asyncio.create_task(h.run(), name="test-hub")
    async with asyncio.timeout(10):
        await h.connected.wait()
    try:
        yield RunningHub(h, store, task)
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        await asyncio.to_thread(store.close)


#: the fleet hub's signing key in these tests: it signs commands and confirms
HUB_KEY = ed25519.Ed25519PrivateKey.generate()


def hub_keys() -> list[PublicKey]:
    """The command keys a test device trusts: the hub's."""
    return [HUB_KEY.public_key()]


#: each test device's device key (signs its replies), made on first use
_DEVICE_KEYS: dict[str, ed25519.Ed25519PrivateKey] = {}


def device_key(device: str) -> ed25519.Ed25519PrivateKey:
    """The device key of test device `device` (the same for the whole test run)."""
    return _DEVICE_KEYS.setdefault(device, ed25519.Ed25519PrivateKey.generate())


def reply_key(device: str) -> ReplyKey:
    """What a test device signs its replies with (`DeviceSync(reply_key=...)`)."""
    key = device_key(device)
    return lambda: key


def signed_events(header: Header, base: int, events: Sequence[OutboxEvent]) -> bytes:
    """An events message signed by the test device `header.device` names, as the device sends
    it (for tests whose point is not the signature: ACLs, revocation, dedup)."""
    sig = sign_events(device_key(header.device), header, base, events)
    return encode_events(header, base, events, sig)


def raw_device_key(device: str) -> bytes:
    """The device's public key as the hubs hold it: raw Ed25519, 32 bytes."""
    return (
        device_key(device)
        .public_key()
        .public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    )


def device_key_pem(device: str) -> bytes:
    """The device's public key as PEM (for `locker-hub device-key`, `enroll_device_key`)."""
    return (
        device_key(device)
        .public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    )


def write_hub_public_key(path: Path) -> Path:
    """The hub's public key as PEM (for `sim_device --command-key`)."""
    path.write_bytes(
        HUB_KEY.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )
    return path


@dataclass
class RunningDevice:
    device: ReferenceDevice
    sync: DeviceSync
    task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self.task = asyncio.create_task(self.sync.run(), name="test-device")

    async def stop(self) -> None:
        if self.task is not None:
            self.task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self.task
            self.task = None


async def wait_for(predicate: object, within_s: float = 20.0, what: str = "condition") -> None:
    """Poll an (async or plain) predicate; real brokers need real time, so this is bounded."""
    deadline = time.monotonic() + within_s
    while time.monotonic() < deadline:
        result = predicate()  # type: ignore[operator]
        if asyncio.iscoroutine(result):
            result = await result
        if result:
            return
        await asyncio.sleep(0.02)
    raise AssertionError(f"timed out waiting for {what}")


async def broker_client(
    broker: Broker, client_id: str, filters: Sequence[str], inbox: list[Inbound]
) -> MqttConnection:
    """A client with the hub's broker rights (what a broker holder has), subscribed to `filters`
    at QoS 1, collecting what it gets in `inbox`."""
    params = ConnectParams(host="127.0.0.1", port=broker.port, client_id=client_id,
                           username=HUB_USER, password=HUB_PASSWORD, clean_start=True)  # fmt: skip
    conn = MqttConnection(params, inbox.append)
    await conn.connect()
    if filters:
        await conn.subscribe([(f, 1) for f in filters])
    return conn
