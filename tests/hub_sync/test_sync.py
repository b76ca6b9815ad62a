"""Device and reference hub through a real Mosquitto: drain, confirm, commands, isolation."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

from hub_sync.device import DeviceSync
from hub_sync.device_outbox import ReferenceDevice
from tests.hub_sync.conftest import FLEET, Broker, RunningDevice, RunningHub, no_keys, wait_for


def make_device(broker: Broker, tmp_path: Path, name: str = "d1", **kw: object) -> RunningDevice:
    dev = ReferenceDevice(tmp_path / f"{name}.db")
    sync = DeviceSync(
        broker.device_settings(name, **kw), dev, dev, dev, command_keys=no_keys, clock=time.time
    )
    return RunningDevice(dev, sync)


def backlog(n: int, start: int = 0) -> list[tuple[str, str, dict[str, object]]]:
    return [("order.collected", f"tx-{i}", {"order": f"o{i}", "door": i % 12 + 1})
            for i in range(start, start + n)]  # fmt: skip


async def test_backlog_after_long_offline_drains_exactly_once(
    broker: Broker, hub: RunningHub, tmp_path: Path
) -> None:
    rd = make_device(broker, tmp_path)
    # a week offline: thousands of events committed while no broker was reachable
    for chunk in range(5):
        await rd.device.append(backlog(1000, chunk * 1000))
    rd.start()
    try:
        await wait_for(lambda: hub.hub.applied >= 5000, 30, "5000 events at the hub")
        await wait_for(lambda: rd.sync.stats().confirmed_seq == 5000, 10, "device confirm")
        await wait_for(lambda: rd.device._stats().depth == 0, 10, "outbox empty")
    finally:
        await rd.stop()
    assert hub.store.event_seqs(FLEET, "d1") == list(range(1, 5001))
    stats = rd.sync.stats()
    assert stats.confirmed == 5000
    [row] = hub.store.devices(FLEET)
    assert row.applied == 5000
    assert row.through_seq == 5000


async def test_new_events_after_connect_are_published_promptly(
    broker: Broker, hub: RunningHub, tmp_path: Path
) -> None:
    rd = make_device(broker, tmp_path)
    rd.start()
    try:
        await wait_for(lambda: rd.sync.stats().connected, 10, "device connected")
        for i in range(20):
            await rd.device.append(backlog(1, i))
            await rd.sync.notify_outbox()
        await wait_for(lambda: hub.hub.applied == 20, 10, "20 events")
    finally:
        await rd.stop()
    assert hub.store.event_seqs(FLEET, "d1") == list(range(1, 21))
    assert hub.hub.duplicates == 0
    await asyncio.sleep(0)
