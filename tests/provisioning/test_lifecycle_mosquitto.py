"""The device lifecycle on a site's Mosquitto with TLS client certificates (issue 13).

invite 3 -> first boot -> approve (2 by the admin, 1 by policy) -> events synced, offline ones
too -> ACL: a device reaches only its own topics -> rotate (no event lost, old certificate
refused) -> revoke (cut off within seconds, measured) -> re-enroll on replacement hardware.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import secrets
import sqlite3
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import asyncpg
import pytest

from hub_sync.adapters.mqtt import MQTT_V311, ConnectParams, Inbound, MqttConnection, TlsSettings
from hub_sync.device.enroll import CredentialKeeper
from hub_sync.errors import MqttError
from hub_sync.hub.reference.hub import Hub, HubSettings
from hub_sync.hub.reference.store import HubStore
from tests.hub_sync.conftest import HUB_KEY
from tests.provisioning.lifecycle import (
    FLEET,
    Fleet,
    admin,
    device_key_of,
    device_settings,
    first_boot,
    forged_events,
    invite,
    offline_pickup,
    pending,
    raw_public,
    record,
    registered_key,
    revoke_measured,
    revoked_alarms,
    running_site,
    start_devices,
    stop_tasks,
    until,
)
from tests.provisioning.site_mosquitto import SiteMosquitto

pytestmark = pytest.mark.timeout(120)


@pytest.fixture
async def site(
    tmp_path: Path, dsn: str
) -> AsyncIterator[tuple[Fleet, SiteMosquitto, asyncpg.Pool]]:
    fleet = Fleet.create(tmp_path / "fleet")
    broker = SiteMosquitto(tmp_path / "mosq", fleet)
    async with running_site(broker, dsn) as pool:
        yield fleet, broker, pool


def _tls(dir: Path, fleet: Fleet) -> TlsSettings:
    return TlsSettings(
        ca=str(fleet.ca_cert), cert=str(dir / "device.crt"), key=str(dir / "device.key.pem")
    )


async def _probe(
    broker: SiteMosquitto, fleet: Fleet, dir: Path, cid: str
) -> tuple[MqttConnection, list[Inbound]]:
    got: list[Inbound] = []
    params = ConnectParams(
        "127.0.0.1",
        broker.device_port,
        cid,
        tls=_tls(dir, fleet),
        protocol=MQTT_V311,
        clean_start=True,
        connect_timeout_s=5,
    )
    conn = MqttConnection(params, got.append)
    await conn.connect()
    return conn, got


@pytest.mark.slow
async def test_mosquitto_lifecycle(
    site: tuple[Fleet, SiteMosquitto, asyncpg.Pool],
    dsn: str,
    tmp_path: Path,
) -> None:
    fleet, broker, pool = site
    service = await broker.start_service_process(dsn)  # `locker-hub enroll-service`
    service_task = asyncio.create_task(asyncio.sleep(0))
    store = HubStore(tmp_path / "hub.db")  # holds no device key: enrollment registers them
    hub = Hub(
        HubSettings(
            fleet=FLEET, connect=broker.hub_params("hub-fp"), backoff_min_s=0.05, backoff_max_s=0.3
        ),
        store,
        sign_key=HUB_KEY,
    )
    hub_task = asyncio.create_task(hub.run())
    tasks: list[asyncio.Task[None]] = []
    try:
        # -- invite 3 (one auto-approved by policy) ---------------------------------------
        a = fleet.admin_args(dsn)
        invites = {}
        for i, locker in enumerate(("lk-1", "lk-2", "lk-3")):
            extra = ["--auto-approve"] if i == 2 else []
            invites[locker] = await invite(a, locker, "berlin-1", "--ttl", "1h", *extra)
        status, _ = await admin("device", "invite", "lk-1", "--site", "s", "--layout", "sim-12", *a)
        assert status == 6  # an open invite exists: no second code (idempotent)

        # -- first boot: each device makes its key, sends a CSR, waits ----------------------
        dirs = {d: tmp_path / d for d in invites}
        boots = {
            d: asyncio.create_task(
                first_boot(invites[d], broker.enroll_port, dirs[d], fleet.ca_cert)
            )
            for d in invites
        }
        enrolled3 = await asyncio.wait_for(boots["lk-3"], 15)  # policy: no admin step
        assert not boots["lk-1"].done()
        for d in ("lk-1", "lk-2"):
            await until(functools.partial(pending, pool, d))
            status, _ = await admin("device", "approve", d, *a)
            assert status == 0
        enrolled = {d: await asyncio.wait_for(boots[d], 15) for d in ("lk-1", "lk-2")}
        enrolled["lk-3"] = enrolled3
        for d, e in enrolled.items():
            assert e.device == d
            assert e.config["layout"]["driver"] == {"type": "simulator"}
            assert (dirs[d] / "device.key.pem").stat().st_mode & 0o777 == 0o600
            # the device key came with the request and was registered as the credential was issued
            assert await registered_key(pool, d) == raw_public(device_key_of(dirs[d]))
            await _reference_hub_learns(store, pool, d)
        await _agent_first_boot(fleet, broker, store, a, tmp_path, pool=pool)
        # the code is single use: a second device with the same invite is refused
        with pytest.raises(Exception, match="CODE_USED"):
            await asyncio.wait_for(
                first_boot(invites["lk-1"], broker.enroll_port, tmp_path / "thief", fleet.ca_cert),
                10,
            )

        # -- devices sync with their own certificates; offline events drain later ----------
        devices, runs = await start_devices(
            enrolled, tmp_path, tasks, port=broker.device_port, tls=True
        )
        await until(lambda: _hub_count(store, 15))

        # orders: the hub's signed order.upsert reaches each device on its own command topic
        for d in devices:
            order = {"order_id": f"O-{d}", "size": "M", "hold_s": 86_400, "policy": {}}
            mid = await hub.send_command(d, "order.upsert", order)
            assert (await hub.wait_reply(mid, 15)).status == "ok"
        # an offline pickup: lk-3 loses its link, hands the parcel out, and syncs it later
        await offline_pickup(devices, runs, tasks)
        await until(lambda: _has_kind(tmp_path / "hub.db", "lk-3", "order.collected"))

        # -- ACL: lk-2 cannot read or write lk-1's topics ------------------------------------
        spy, spy_got = await _probe(broker, fleet, dirs["lk-2"], "lk-2-spy")
        with contextlib.suppress(MqttError):
            await spy.subscribe(
                [(f"lk/v1/{FLEET}/lk-1/cmd", 1), (f"lk/v1/{FLEET}/lk-1/confirm", 1)]
            )
        lk1_key = device_key_of(dirs["lk-1"])  # signed as lk-1 signs: the ACL refuses it
        await spy.publish(f"lk/v1/{FLEET}/lk-1/evt", forged_events("lk-1", 999, lk1_key))
        await record(devices["lk-1"], "tx-more", 9)
        await until(lambda: _hub_count(store, 16))
        await asyncio.sleep(0.3)
        assert spy_got == []  # lk-1's confirm was not delivered
        assert 999 not in await asyncio.to_thread(store.event_seqs, FLEET, "lk-1")
        await spy.disconnect()

        # -- rotate lk-1: new key and certificate over its credential topics -----------------
        keeper = CredentialKeeper(
            fleet=FLEET,
            device="lk-1",
            dir=dirs["lk-1"],
            pin=invites["lk-1"].split(":")[3],
            connect=lambda cid: ConnectParams(
                "127.0.0.1",
                broker.device_port,
                cid,
                tls=_tls(dirs["lk-1"], fleet),
                protocol=MQTT_V311,
                clean_start=True,
            ),
            on_rotated=lambda r: devices["lk-1"][1].reconnect_with(
                device_settings(enrolled["lk-1"], port=broker.device_port, tls=True)
            ),
        )
        tasks.append(asyncio.create_task(keeper.run()))
        old_cert = (dirs["lk-1"] / "device.crt").read_bytes()
        old_key = (dirs["lk-1"] / "device.key.pem").read_bytes()
        status, out = await admin("device", "rotate", "lk-1", "--wait", "20", *a)
        assert status == 0, out
        assert (dirs["lk-1"] / "device.crt").read_bytes() != old_cert
        await record(devices["lk-1"], "tx-after-rotate", 10)
        await until(lambda: _hub_count(store, 17))
        (tmp_path / "old").mkdir()
        (tmp_path / "old" / "device.crt").write_bytes(old_cert)
        (tmp_path / "old" / "device.key.pem").write_bytes(old_key)
        await until(lambda: _refused(broker, fleet, tmp_path / "old"))  # old cert: CRL

        # -- revoke lk-2: cut off within seconds ---------------------------------------------
        sync2 = devices["lk-2"][1]
        cut, after_commit = await revoke_measured(a, "lk-2", sync2)
        await asyncio.sleep(0.5)
        assert not sync2.stats().connected  # and it stays out: the CRL refuses it
        assert await _refused(broker, fleet, dirs["lk-2"])
        print(f"\nMOSQUITTO_CUTOFF_S={cut:.3f} AFTER_COMMIT_S={after_commit:.3f}")
        assert after_commit < 5.0
        assert await revoked_alarms(pool) == [("lk-2", "DEVICE_REVOKED")]

        # -- replacement hardware for lk-2 -------------------------------------------------
        code = await invite(a, "lk-2", "berlin-1", "--auto-approve")
        new = await asyncio.wait_for(
            first_boot(code, broker.enroll_port, tmp_path / "lk-2-new", fleet.ca_cert), 15
        )
        conn, _ = await _probe(broker, fleet, new.dir, "lk-2")
        await conn.disconnect()
        status, out = await admin("device", "list", "--json", *a)
        assert {r["device"]: r["state"] for r in json.loads(out)} == {
            "lk-1": "active",
            "lk-2": "active",
            "lk-3": "active",
            "lk-4": "active",
        }
    finally:
        await stop_tasks([*tasks, hub_task, service_task])
        service.terminate()
        await asyncio.wait_for(service.wait(), 15)
        await asyncio.to_thread(store.close)


async def _hub_count(store: HubStore, n: int) -> bool:
    def count() -> int:
        return sum(len(store.event_seqs(FLEET, d)) for d in ("lk-1", "lk-2", "lk-3"))

    return await asyncio.to_thread(count) >= n


async def _refused(broker: SiteMosquitto, fleet: Fleet, dir: Path) -> bool:
    try:
        conn, _ = await _probe(broker, fleet, dir, "probe-" + secrets.token_hex(4))
    except MqttError:
        return True
    await conn.disconnect()
    return False


async def _reference_hub_learns(store: HubStore, pool: asyncpg.Pool, device: str) -> None:
    """The reference hub (SQLite, one site) does not read the fleet registry: it is given the
    key the enrollment service registered there (`locker-admin hub device-key` does the same)."""
    raw = await registered_key(pool, device)
    assert raw is not None
    await asyncio.to_thread(store.add_device_key, FLEET, device, raw, 0.0)


async def _agent_first_boot(
    fleet: Fleet,
    broker: SiteMosquitto,
    store: HubStore,
    a: list[str],
    tmp_path: Path,
    *,
    pool: asyncpg.Pool,
) -> None:
    """The real agent: `locker-agent enroll` writes agent.toml, `locker-agent run` serves."""
    code = await invite(a, "lk-4", "berlin-1", "--auto-approve")
    data, config = tmp_path / "lk-4-data", tmp_path / "lk-4.toml"
    enroll = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "agent", "enroll", code, "--hub",
        f"mqtts://127.0.0.1:{broker.enroll_port}", "--ca", str(fleet.ca_cert),
        "--data-dir", str(data), "--config", str(config), stdout=asyncio.subprocess.PIPE,
    )  # fmt: skip
    stdout, _ = await asyncio.wait_for(enroll.communicate(), 30)
    assert enroll.returncode == 0
    assert json.loads(stdout.decode().splitlines()[-1])["locker"] == "lk-4"
    text = config.read_text()
    assert 'id = "lk-4"' in text
    assert "root_keys" in text  # the pinned root and the current bundle came with the answer
    creds = data / "credentials"
    assert (creds / "root-0.pub.pem").read_bytes() == (
        fleet.root / "root-primary.pub.pem"
    ).read_bytes()
    assert (creds / "bundle.cose").read_bytes() == (fleet.root / "bundle.cose").read_bytes()
    assert (data / "credentials" / "device.key.pem").stat().st_mode & 0o777 == 0o600
    # `locker-agent enroll` made the agent's own device key (0600) and the hub registered it
    assert (data / "device_key.pem").stat().st_mode & 0o777 == 0o600
    assert await registered_key(pool, "lk-4") == raw_public(device_key_of(data))
    config.write_text(text + "\n[api]\nport = 0\n")
    agent = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "agent", "run", "--config", str(config),
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL,
    )  # fmt: skip
    try:
        await until(lambda: _online(store, "lk-4"), 30)
    finally:
        agent.terminate()
        await asyncio.wait_for(agent.wait(), 15)


async def _online(store: HubStore, device: str) -> bool:
    rows = await asyncio.to_thread(store.devices, FLEET)
    return any(r.device == device and r.online for r in rows)


async def _has_kind(path: Path, device: str, kind: str) -> bool:
    """Read the reference hub's SQLite file (a second connection, as an operator would)."""

    def kinds() -> list[str]:
        with contextlib.closing(sqlite3.connect(path)) as db:
            rows = db.execute("SELECT kind FROM events WHERE device=?", (device,)).fetchall()
        return [str(r[0]) for r in rows]

    return kind in await asyncio.to_thread(kinds)
