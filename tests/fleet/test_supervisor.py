"""`locker-hub run --workers 2`: N workers; a killed one is restarted; SIGTERM stops all."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from pathlib import Path

from hub_sync.hub.cluster import NatsCluster
from tests.fleet.conftest import enroll_devices, fleet_device, stop_devices, worker_argv
from tests.hub_sync.conftest import wait_for


def _children(pid: int) -> list[int]:
    """The child pids from /proc (a file read: no pgrep process on the event loop every poll)."""
    try:
        text = Path(f"/proc/{pid}/task/{pid}/children").read_text()
    except OSError:
        return []
    return [int(p) for p in text.split()]


async def test_run_supervises_n_workers_restarts_a_killed_one_and_stops_them_all(
    cluster: NatsCluster, dsn: str, sign_key_file: Path, tmp_path: Path
) -> None:
    argv = worker_argv(cluster, dsn, sign_key_file)
    hub = subprocess.Popen(  # noqa: ASYNC220 (a non-blocking start)
        [sys.executable, "-m", "provisioning.hub_main", "run", "--workers", "2", *argv]
    )
    await enroll_devices(dsn, "d1")
    device = fleet_device(tmp_path, "d1", cluster.nodes[0].mqtt_port)
    try:
        await wait_for(lambda: len(_children(hub.pid)) == 2, 20, "two workers")
        first = _children(hub.pid)
        os.kill(first[0], signal.SIGKILL)
        await wait_for(lambda: len(set(_children(hub.pid)) - set(first)) == 1, 20, "a restart")
        await device.device.append([("sim.event", f"t{i}", {}) for i in range(50)])
        device.start()

        async def drained() -> bool:
            return (await device.device.stats()).depth == 0

        await wait_for(drained, 60, "the supervised workers to confirm")
        children = _children(hub.pid)
        hub.send_signal(signal.SIGTERM)
        assert await asyncio.to_thread(hub.wait, 20) == 0
        await wait_for(
            lambda: not any(Path(f"/proc/{c}").exists() for c in children), 20, "workers gone"
        )
    finally:
        if hub.poll() is None:
            hub.kill()
            hub.wait(10)
        await stop_devices([device])
