"""Device and reference hub through a real Mosquitto: drain, confirm, commands, isolation."""

from __future__ import annotations

import asyncio
import contextlib
import time
from dataclasses import replace
from pathlib import Path

from hub_sync.adapters.mqtt import MQTT_V311, TlsSettings
from hub_sync.device.outbox import ReferenceDevice
from hub_sync.device.ports import SyncStats
from hub_sync.device.sync import DeviceSync
from hub_sync.hub.reference.hub import Hub
from hub_sync.hub.reference.store import HubStore
from tests.hub_sync.conftest import (
    FLEET,
    HUB_KEY,
    Broker,
    RunningDevice,
    RunningHub,
    hub_keys,
    keyed_store,
    reply_key,
    wait_for,
)


def make_device(broker: Broker, tmp_path: Path, name: str = "d1", **kw: object) -> RunningDevice:
    dev = ReferenceDevice(tmp_path / f"{name}.db")
    sync = DeviceSync(
        broker.device_settings(name, **kw),
        dev,
        dev,
        dev,
        command_keys=hub_keys,
        clock=time.time,
        device_key=reply_key(name),
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


async def test_drain_alarm_when_connected_but_hub_never_confirms(
    broker: Broker, tmp_path: Path
) -> None:
    alarms: list[bool] = []

    async def on_alarm(active: bool, stats: SyncStats) -> None:
        alarms.append(active)

    dev = ReferenceDevice(tmp_path / "d1.db")
    # no hub session yet, so the broker keeps nothing for it: the device resends when the hub's
    # retained "online" arrives (confirm_timeout_s is long on purpose)
    settings = broker.device_settings("d1", drain_alarm_s=0.4, confirm_timeout_s=60.0)
    sync = DeviceSync(settings, dev, dev, dev,
                      command_keys=hub_keys, clock=time.time, on_alarm=on_alarm,
                      device_key=reply_key("d1"))  # fmt: skip
    rd = RunningDevice(dev, sync)
    await dev.append(backlog(10))
    rd.start()
    store = keyed_store(tmp_path / "hub.db")
    hub = Hub(broker.hub_settings(), store, sign_key=HUB_KEY)
    try:
        await wait_for(lambda: alarms == [True], 10, "alarm on")
        assert sync.stats().drain_alarm
        assert sync.stats().outbox_depth == 10
        hub_task = asyncio.create_task(hub.run())  # the hub comes back: the outbox drains
        await wait_for(lambda: alarms == [True, False], 10, "alarm off")
        assert not sync.stats().drain_alarm
        await wait_for(lambda: store.devices(FLEET)[0].alarm is None, 10, "status cleared")
        hub_task.cancel()
    finally:
        await rd.stop()
        await asyncio.to_thread(store.close)


async def test_mqtt_311_device_and_hub(broker: Broker, tmp_path: Path) -> None:
    store = keyed_store(tmp_path / "hub.db")
    settings = broker.hub_settings()
    hub = Hub(
        replace(settings, connect=replace(settings.connect, protocol=MQTT_V311)),
        store,
        sign_key=HUB_KEY,
    )
    hub_task = asyncio.create_task(hub.run())
    rd = make_device(broker, tmp_path, protocol=MQTT_V311)
    await rd.device.append(backlog(500))
    rd.start()
    try:
        await wait_for(lambda: hub.applied == 500, 20, "500 events over 3.1.1")
        mid = await hub.send_command("d1", "order.cancel", {"order_id": "o", "reason": "r"})
        assert (await hub.wait_reply(mid, 10)).status == "ok"
        await wait_for(lambda: hub.applied == 501, 10, "the command's own event")
    finally:
        await rd.stop()
        hub_task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await hub_task
        await asyncio.to_thread(store.close)
    assert await asyncio.to_thread(store_seqs_ok, tmp_path / "hub.db", 501)


def store_seqs_ok(path: Path, n: int) -> bool:
    store = HubStore(path)
    try:
        return store.event_seqs(FLEET, "d1") == list(range(1, n + 1))
    finally:
        store.close()


async def test_device_over_tls_with_password(
    broker: Broker, hub: RunningHub, tmp_path: Path
) -> None:
    assert broker.ca is not None
    rd = make_device(broker, tmp_path, tls=TlsSettings(ca=str(broker.ca)))
    rd.sync._s = replace(rd.sync._s, port=broker.tls_port)
    await rd.device.append(backlog(200))
    rd.start()
    try:
        await wait_for(lambda: hub.hub.applied == 200, 20, "200 events over TLS")
    finally:
        await rd.stop()
    assert hub.store.event_seqs(FLEET, "d1") == list(range(1, 201))
