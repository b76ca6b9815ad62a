"""The device lifecycle tests' fleet, hub database, enrollment service and devices.

`Fleet` is the admin's files, `admin` runs `locker-admin`; the brokers are `SiteMosquitto` (in
`site_mosquitto.py`) and the 3-node NATS cluster with a users include file the enrollment service
writes (`nats_admin`). The steps both lifecycle tests take the same way: `running_site` (the
broker and the hub database, undone in reverse), `invite`, `start_devices` (reference devices that
recorded events while offline), `offline_pickup`, `record` and `revoke_measured`.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import secrets
import socket
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import asyncpg
from cryptography.hazmat.primitives import serialization

from agent.store.audit import DEVICE_KEY_FILE, DeviceKey, load_or_create_device_key
from hub_sync.adapters.mqtt import MQTT_V311, ConnectParams, TlsSettings
from hub_sync.adapters.settings import SyncSettings
from hub_sync.device.enroll import (
    CA_FILE,
    CERT_FILE,
    KEY_FILE,
    PASSWORD_FILE,
    Enrolled,
    key_pem,
    write_private,
)
from hub_sync.device.enroll import first_boot as device_first_boot
from hub_sync.device.outbox import ReferenceDevice
from hub_sync.device.sync import DeviceSync
from hub_sync.errors import EnrollmentRefused
from hub_sync.hub.db import connect_pool
from hub_sync.protocol import enrollment as wire
from hub_sync.protocol.event_sig import sign_events
from hub_sync.protocol.reply_sig import ReplyKey
from hub_sync.protocol.wire import Header, OutboxEvent, encode_events, new_message_id
from provisioning import cli
from provisioning.brokers import (
    NatsAdmin,
    hash_secret,
)
from provisioning.credentials import DeviceProfile
from provisioning.device_ca import DeviceCa, cert_pem, create_ca
from provisioning.enroll_service import EnrollmentService, ServiceSettings
from tests.hub_sync.conftest import hub_keys

FLEET = "fp"
HUB_USER, HUB_PASSWORD = "hub", "hub-secret-" + secrets.token_hex(8)
ENROLL_PASSWORD = secrets.token_hex(16)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Fleet:
    """The admin's files: device CA (key + cert), the hub's invite secret."""

    root: Path
    ca: DeviceCa
    ca_cert: Path
    secret_file: Path

    @classmethod
    def create(cls, root: Path) -> Fleet:
        root.mkdir(parents=True, exist_ok=True)
        ca = create_ca(FLEET, now=time.time())
        ca_cert = root / "device-ca.pem"
        ca_cert.write_bytes(cert_pem(ca.cert))
        write_private(root / "device-ca.key.pem", key_pem(ca.key))
        secret = root / "invite.secret"
        secret.write_text(secrets.token_hex(32))
        return cls(root, ca, ca_cert, secret)

    def admin_args(self, dsn: str) -> list[str]:
        return [
            "--fleet",
            FLEET,
            "--dsn",
            dsn,
            "--invite-secret",
            str(self.secret_file),
            "--device-ca",
            str(self.ca_cert),
        ]


async def admin(*argv: str) -> tuple[int, str]:
    """Run `locker-admin ARGV` in a subprocess (it runs its own event loop); (status, stdout)."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "provisioning.cli",
        *argv,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await proc.communicate()
    assert proc.returncode is not None
    if proc.returncode != 0:
        print(err.decode(errors="replace"), file=sys.stderr)
    return proc.returncode, out.decode()


async def invite(admin_args: list[str], locker: str, site: str, *extra: str) -> str:
    """`locker-admin device invite LOCKER` on the `sim-12` layout, no QR code: the invite text."""
    status, out = await admin(
        "device", "invite", locker, "--site", site, "--layout", "sim-12", "--no-qr",
        *admin_args, *extra,
    )  # fmt: skip
    assert status == 0, out
    return out.strip()


del cli  # imported so that a broken CLI module fails collection, not only the subprocess


def nats_admin(fleet: Fleet, users: Path, pids: Callable[[], list[int]]) -> NatsAdmin:
    return NatsAdmin(FLEET, users, pids, HUB_USER, hash_secret(HUB_PASSWORD), ENROLL_PASSWORD)


async def start_service(
    fleet: Fleet, pool: asyncpg.Pool, broker: object, connect: ConnectParams, profile: DeviceProfile
) -> tuple[EnrollmentService, asyncio.Task[None]]:
    settings = ServiceSettings(
        FLEET, bytes.fromhex(fleet.secret_file.read_text()), profile, connect, reconcile_s=1.0
    )
    service = EnrollmentService(settings, fleet.ca, broker, pool)  # type: ignore[arg-type]
    task = asyncio.create_task(service.run(), name="enroll-service")
    async with asyncio.timeout(15):
        await service.ready.wait()
    return service, task


def device_key_of(dir: Path) -> DeviceKey:
    """The device key of the device whose files are in `dir`: made there (0600) as the agent
    makes its `device_key.pem`, on first use."""
    return load_or_create_device_key(dir / DEVICE_KEY_FILE)


async def first_boot(invite_text: str, port: int, dir: Path, ca: Path | None) -> Enrolled:
    """A device's first boot with its own device key (registered by the hub at enrollment)."""
    key = await asyncio.to_thread(device_key_of, dir)
    return await device_first_boot(
        wire.parse_invite(invite_text),
        host="127.0.0.1",
        port=port,
        ca_file=ca,
        dir=dir,
        device_key=key.private,
        resend_s=1.0,
    )


async def refused_boot(
    invite_text: str, port: int, dir: Path, ca: Path | None, proof: Callable[..., object]
) -> str:
    """A first boot whose request carries `proof(key, fleet, nonce)` as its `device_key`; the
    reason the hub refused it with (fails the test if it was not refused within 15 s)."""
    real = wire.device_key_proof
    wire.device_key_proof = proof  # type: ignore[assignment]
    try:
        async with asyncio.timeout(15):
            await first_boot(invite_text, port, dir, ca)
    except EnrollmentRefused as err:
        return err.reason
    finally:
        wire.device_key_proof = real
    raise AssertionError("the request was not refused")


async def registered_key(pool: asyncpg.Pool, device: str) -> bytes | None:
    """The device key the fleet hub holds for `device` (raw Ed25519), if any."""
    raw = await pool.fetchval(
        "SELECT public_key FROM device_keys WHERE fleet=$1 AND device=$2", FLEET, device
    )
    return None if raw is None else bytes(raw)


def raw_public(key: DeviceKey) -> bytes:
    """`key`'s public half, raw (as the hubs hold device keys)."""
    return key.public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def device_settings(e: Enrolled, *, port: int, tls: bool) -> SyncSettings:
    """What the agent builds from the written agent.toml: the device's own credential."""
    d = e.dir
    password = (d / PASSWORD_FILE).read_text().strip() if e.has_password else None
    tls_settings = (
        TlsSettings(ca=str(d / CA_FILE), cert=str(d / CERT_FILE), key=str(d / KEY_FILE))
        if tls
        else None
    )
    return SyncSettings(
        host="127.0.0.1",
        port=port,
        device_id=e.device,
        fleet_id=FLEET,
        username=e.username if e.has_password else None,
        password=password,
        tls=tls_settings,
        backoff_min_s=0.05,
        backoff_max_s=0.3,
        confirm_timeout_s=2.0,
        protocol=MQTT_V311,
    )


def forged_events(device: str, seq: int, key: DeviceKey, base: int = 0) -> bytes:
    """A well-formed events batch in `device`'s name, signed with `key`: the device's own key,
    so that only the ACL or a revocation can refuse it, not the signature (docs/protocol.md,
    "Events are signed")."""
    header = Header("events", new_message_id(), FLEET, device, time.time())
    event = OutboxEvent(seq, "order.collected", f"tx-forged-{seq}", {"order": "X"}, time.time())
    sig = sign_events(key.private, header, base, [event])
    return encode_events(header, base, [event], sig)


async def until(check: Callable[[], Awaitable[bool]], within_s: float = 15.0) -> float:
    """Poll `check` every 20 ms; the seconds it took (fails the test after `within_s`)."""
    start = time.monotonic()
    while not await check():
        if time.monotonic() - start > within_s:
            raise AssertionError(f"not within {within_s} s")
        await asyncio.sleep(0.02)
    return time.monotonic() - start


async def stop_tasks(tasks: list[asyncio.Task[None]], within_s: float = 15.0) -> None:
    """Cancel `tasks` and wait for them, bounded: one that ignores its cancellation fails the test
    with its stack instead of hanging it until the suite's timeout."""
    for t in tasks:
        t.cancel()
    _done, stuck = await asyncio.wait(tasks, timeout=within_s)
    if stuck:
        stacks = []
        for t in stuck:
            out = io.StringIO()
            t.print_stack(file=out)
            stacks.append(out.getvalue())
        raise AssertionError("tasks did not stop when cancelled:\n" + "\n".join(stacks))


class Broker(Protocol):
    """A site's broker the tests start and stop themselves (Mosquitto, the NATS cluster)."""

    def start(self) -> None:
        """Start it and wait until it accepts connections (blocks: run it in a thread)."""

    def stop(self) -> None:
        """Stop it (blocks: run it in a thread)."""


@contextlib.asynccontextmanager
async def running_site(broker: Broker, dsn: str) -> AsyncIterator[asyncpg.Pool]:
    """`broker` started and the hub database open; closed and stopped in reverse on the way out."""
    await asyncio.to_thread(broker.start)
    try:
        pool = await connect_pool(dsn)
        try:
            yield pool
        finally:
            try:
                await asyncio.wait_for(pool.close(), 10)
            except TimeoutError:
                pool.terminate()
    finally:
        await asyncio.to_thread(broker.stop)


async def pending(pool: asyncpg.Pool, device: str) -> bool:
    """Whether `device` has sent its request and waits for the admin's approval."""
    return bool(
        await pool.fetchval(
            "SELECT 1 FROM device_invites WHERE device=$1 AND status='pending'", device
        )
    )


Device = tuple[ReferenceDevice, DeviceSync]


def _signer(key: DeviceKey) -> ReplyKey:
    return lambda: key.private


async def start_devices(
    enrolled: dict[str, Enrolled],
    dir: Path,
    tasks: list[asyncio.Task[None]],
    *,
    port: int,
    tls: bool,
) -> tuple[dict[str, Device], dict[str, asyncio.Task[None]]]:
    """A reference device per enrolled locker with 5 events recorded while offline, syncing with
    its own credential: the devices and their sync tasks (also appended to `tasks`)."""
    devices: dict[str, Device] = {}
    runs: dict[str, asyncio.Task[None]] = {}
    for d, e in enrolled.items():
        dev = await asyncio.to_thread(ReferenceDevice, dir / f"{d}.db")
        offline = [("order.stored", f"tx-{d}-{i}", {"i": i}) for i in range(5)]
        await asyncio.to_thread(dev.append_sync, offline)  # recorded while offline
        sync = DeviceSync(
            device_settings(e, port=port, tls=tls),
            dev,
            dev,
            dev,
            command_keys=hub_keys,
            clock=time.time,
            device_key=_signer(device_key_of(e.dir)),  # the key it enrolled with
        )
        devices[d] = (dev, sync)
        runs[d] = asyncio.create_task(sync.run())
        tasks.append(runs[d])
    return devices, runs


async def offline_pickup(
    devices: dict[str, Device], runs: dict[str, asyncio.Task[None]], tasks: list[asyncio.Task[None]]
) -> None:
    """lk-3 loses its link, hands out order O-lk-3 and syncs again (its new task in `runs`)."""
    runs["lk-3"].cancel()
    await asyncio.gather(runs["lk-3"], return_exceptions=True)
    pickup = [("order.collected", "tx-pickup", {"order": "O-lk-3", "door": 1, "via": "token"})]
    await asyncio.to_thread(devices["lk-3"][0].append_sync, pickup)
    runs["lk-3"] = asyncio.create_task(devices["lk-3"][1].run())
    tasks.append(runs["lk-3"])


async def record(device: Device, tx: str, i: int) -> None:
    """`device` records one `order.stored` event and tells its sync at once."""
    await asyncio.to_thread(device[0].append_sync, [("order.stored", tx, {"i": i})])
    await device[1].notify_outbox()


async def revoke_measured(
    admin_args: list[str], device: str, sync: DeviceSync
) -> tuple[float, float]:
    """`locker-admin device revoke DEVICE` while `sync` is connected: the seconds from the
    command, and from the committed revocation, until `sync` is cut off (fails after 10 s)."""
    assert sync.stats().connected
    t0 = time.monotonic()
    status, _ = await admin("device", "revoke", device, *admin_args)
    assert status == 0
    t1 = time.monotonic()  # the revocation is committed
    await until(lambda: _disconnected(sync), 10)
    return time.monotonic() - t0, time.monotonic() - t1


async def _disconnected(sync: DeviceSync) -> bool:
    return not sync.stats().connected


async def revoked_alarms(pool: asyncpg.Pool) -> list[tuple[str, str]]:
    """The hub's `DEVICE_REVOKED` alarms as (device, kind)."""
    rows = await pool.fetch("SELECT device, kind FROM alarms WHERE kind='DEVICE_REVOKED'")
    return [(r["device"], r["kind"]) for r in rows]
