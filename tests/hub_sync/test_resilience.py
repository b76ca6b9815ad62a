"""Nothing lost, nothing applied twice: a broker restart and a device SIGKILLed mid-drain."""

from __future__ import annotations

import asyncio
import sys
import time
from pathlib import Path

from cryptography.hazmat.primitives import serialization

from hub_sync.device.sim import SlowDisk
from hub_sync.device.sync import DeviceSync
from tests.hub_sync.conftest import (
    FLEET,
    Broker,
    RunningDevice,
    RunningHub,
    device_key,
    hub_keys,
    reply_key,
    wait_for,
    write_hub_public_key,
)
from tests.hub_sync.test_sync import backlog, make_device


async def test_broker_killed_and_restarted_mid_drain(
    broker: Broker, hub: RunningHub, tmp_path: Path
) -> None:
    rd = make_device(broker, tmp_path, batch_size=25, inflight_window=2, confirm_timeout_s=2.0)
    slow = SlowDisk(tmp_path / "d1.db")  # about 2,500 events/s: the restart lands mid-drain
    slow.delay_s = 0.01
    rd = RunningDevice(slow, DeviceSync(rd.sync._s, slow, slow, slow, command_keys=hub_keys,
                                        clock=time.time, device_key=reply_key("d1")))  # fmt: skip
    for chunk in range(4):
        await rd.device.append(backlog(1000, chunk * 1000))
    rd.start()
    try:
        await wait_for(lambda: hub.hub.applied >= 400, 20, "drain under way")
        assert hub.hub.applied < 4000, "drained before the restart: make the batch smaller"
        await asyncio.to_thread(broker.restart)
        await wait_for(lambda: hub.hub.applied >= 4000, 40, "drain after the restart")
        await wait_for(lambda: rd.sync.stats().confirmed_seq == 4000, 10, "device confirm")
    finally:
        await rd.stop()
    assert hub.store.event_seqs(FLEET, "d1") == list(range(1, 4001))
    assert rd.sync.stats().reconnects >= 1
    assert rd.device._stats().depth == 0


async def _spawn(broker: Broker, db: Path, generate: int) -> asyncio.subprocess.Process:
    url = f"mqtt://d2:{broker.passwords['d2']}@127.0.0.1:{broker.port}"
    return await asyncio.create_subprocess_exec(
        sys.executable, "-m", "hub_sync.device.sim", "--broker", url, "--fleet", FLEET,
        "--device", "d2", "--db", str(db), "--generate", str(generate), "--batch-size", "10",
        "--read-delay-ms", "2",  # about 5,000 events/s: the kill lands mid-drain
        "--command-key", str(write_hub_public_key(db.parent / "hub.pub.pem")),
        "--device-key", str(_write_device_key(db.parent / "d2.key.pem")),
    )  # fmt: skip


def _write_device_key(path: Path) -> Path:
    """d2's test device key (the hub holds its public key): the simulator signs with it."""
    path.write_bytes(
        device_key("d2").private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return path


async def test_device_killed_with_sigkill_mid_drain(
    broker: Broker, hub: RunningHub, tmp_path: Path
) -> None:
    db = tmp_path / "d2.db"
    proc = await _spawn(broker, db, 3000)
    try:
        await wait_for(lambda: hub.hub.applied >= 300, 30, "drain under way")
        assert hub.hub.applied < 3000
    finally:
        proc.kill()  # SIGKILL: no goodbye, no flush, the Last Will says offline
        await proc.wait()
    killed_at = hub.hub.applied
    proc = await _spawn(broker, db, 0)
    try:
        await wait_for(lambda: hub.hub.applied >= 3000, 40, "drain after the restart")
        await wait_for(
            lambda: any(r.through_seq == 3000 for r in hub.store.devices(FLEET)), 5, "through"
        )
    finally:
        proc.terminate()
        await proc.wait()
    assert killed_at < 3000
    assert hub.store.event_seqs(FLEET, "d2") == list(range(1, 3001))
    [row] = [r for r in hub.store.devices(FLEET) if r.device == "d2"]
    assert row.applied == 3000
    assert row.gaps == 0
