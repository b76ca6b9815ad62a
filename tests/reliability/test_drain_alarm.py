"""The drain alarm also fires while the link is down, not only inside a session (found by the
partition phase of `test_network_faults.py`, which needs root; this is its quick form)."""

from __future__ import annotations

import time
from pathlib import Path

from hub_sync.adapters.settings import SyncSettings
from hub_sync.device.outbox import ReferenceDevice
from hub_sync.device.ports import SyncStats
from hub_sync.device.sync import DeviceSync
from tests.hub_sync.conftest import FLEET, RunningDevice, free_port, hub_keys, reply_key, wait_for


async def test_an_outbox_that_cannot_reach_any_broker_raises_the_drain_alarm(
    tmp_path: Path,
) -> None:
    alarms: list[bool] = []

    async def on_alarm(active: bool, stats: SyncStats) -> None:
        alarms.append(active)

    dev = ReferenceDevice(tmp_path / "d1.db")
    await dev.append([("test.offline", f"tx-{n}", {"n": n}) for n in range(5)])
    # nothing listens on this port: every connect fails, no session ever starts
    settings = SyncSettings(host="127.0.0.1", port=free_port(), device_id="d1", fleet_id=FLEET,
                            backoff_min_s=0.05, backoff_max_s=0.2, drain_alarm_s=0.4)  # fmt: skip
    sync = DeviceSync(settings, dev, dev, dev, command_keys=hub_keys, clock=time.time,
                      on_alarm=on_alarm, device_key=reply_key("d1"))  # fmt: skip
    running = RunningDevice(dev, sync)
    running.start()
    try:
        await wait_for(lambda: alarms == [True], 10, "the drain alarm while offline")
        stats = sync.stats()
        assert stats.drain_alarm
        assert not stats.connected
        assert stats.outbox_depth == 5
    finally:
        await running.stop()
