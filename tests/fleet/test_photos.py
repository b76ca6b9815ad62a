"""Evidence photos into the fleet hub (real NATS cluster, real PostgreSQL, worker processes).

Each photo arrives once and whole although a worker is SIGKILLed and the device restarts
mid-upload; photos that fail the hub's check (another locker's photo, a device without an
enrolled key) are stored as rejected with the `EVIDENCE_REJECTED` alarm.
"""

from __future__ import annotations

import asyncio
import hashlib
import time
from collections.abc import Sequence
from pathlib import Path

import asyncpg

from hub_sync.adapters.mqtt import MQTT_V311
from hub_sync.adapters.settings import SyncSettings
from hub_sync.device.outbox import ReferenceDevice
from hub_sync.device.ports import PendingPhoto
from hub_sync.device.sync import DeviceSync
from hub_sync.hub.cluster import NatsCluster
from tests.evidence.conftest import compartment_jpeg, facts_for, make_fleet
from tests.fleet.conftest import FLEET, Workers, enroll_devices, stop_devices, worker_argv
from tests.hub_sync.conftest import RunningDevice, hub_keys, reply_key, wait_for

CHUNK = 4096


class FolderPhotos:
    """A test `PhotoSource`: signed JPEGs in memory, marked uploaded as the port says."""

    def __init__(self, photos: dict[str, bytes]) -> None:
        self.files = photos
        self.done: dict[str, str | None] = {}

    async def pending_photos(self, limit: int) -> Sequence[PendingPhoto]:
        todo = [p for p in self.files if p not in self.done][:limit]
        return [PendingPhoto(p, hashlib.sha256(self.files[p]).hexdigest(), len(self.files[p]))
                for p in todo]  # fmt: skip

    async def read_chunk(self, photo_id: str, offset: int, size: int) -> bytes:
        return self.files[photo_id][offset : offset + size]

    async def uploaded(self, photo_id: str, *, rejected: str | None) -> None:
        self.done[photo_id] = rejected


def _device(tmp: Path, name: str, port: int, photos: FolderPhotos) -> RunningDevice:
    settings = SyncSettings(
        host="127.0.0.1", port=port, device_id=name, fleet_id=FLEET, protocol=MQTT_V311,
        backoff_min_s=0.05, backoff_max_s=0.5, confirm_timeout_s=2.0, photo_chunk_bytes=CHUNK,
    )  # fmt: skip
    ref = ReferenceDevice(tmp / f"{name}.db")
    sync = DeviceSync(settings, ref, ref, ref, command_keys=hub_keys, clock=time.time,
                      photos=photos, device_key=reply_key(name))  # fmt: skip
    return RunningDevice(ref, sync)


async def _held(dsn: str) -> dict[tuple[str, str], tuple[str, str | None, bytes]]:
    conn = await asyncpg.connect(dsn)
    try:
        rows = await conn.fetch("SELECT device, photo, status, reason, data FROM evidence_photos")
    finally:
        await conn.close()
    return {(r["device"], r["photo"]): (r["status"], r["reason"], bytes(r["data"])) for r in rows}


async def test_photos_arrive_once_whole_across_a_worker_kill_and_a_device_restart(
    cluster: NatsCluster, dsn: str, sign_key_file: Path, tmp_path: Path
) -> None:
    fleet = make_fleet(tmp_path / "fleet", "fleet-p")
    signer, other = fleet.signer("d0"), fleet.signer("d2")
    mine = {
        f"ph{i}": signer.sign(compartment_jpeg(i), facts_for("d0", photo_id=f"ph{i}"))
        for i in range(6)
    }
    foreign = {"ph-x": signer.sign(compartment_jpeg(9), facts_for("d0", photo_id="ph-x"))}
    unenrolled = {"ph-u": other.sign(compartment_jpeg(8), facts_for("d2", photo_id="ph-u"))}
    await enroll_devices(dsn, "d0", "d1")
    argv = worker_argv(cluster, dsn, sign_key_file, "--device-ca", str(fleet.ca_pem_path))
    workers = Workers(argv, tmp_path)
    workers.start()
    workers.start()
    sources = [FolderPhotos(mine), FolderPhotos(foreign), FolderPhotos(unenrolled)]
    devices = [
        _device(tmp_path, f"d{i}", cluster.nodes[i].mqtt_port, src) for i, src in enumerate(sources)
    ]
    try:
        # d2's key is not enrolled: the hub would refuse its events (unsigned by a key it
        # holds) and its photo would wait behind them, so it has none: its photo goes at once
        for d in devices[:2]:
            await d.device.append([("sim.event", f"tx-{i}", {"i": i}) for i in range(50)])
        for d in devices:
            d.start()

        async def partway() -> bool:
            return len(await _held(dsn)) >= 2

        await wait_for(partway, 40, "the first photos")
        await asyncio.to_thread(workers.kill, 0)  # SIGKILL mid-upload
        finished = [v for v in (await _held(dsn)).values() if v[0] != "partial"]
        await devices[0].stop()  # and the device goes away, forgetting where it was
        devices[0].start()

        async def all_done() -> bool:
            return all(len(s.done) == len(s.files) for s in sources)

        await wait_for(all_done, 50, "every photo's final ack")
        assert len(finished) < 8  # the kill really came mid-upload
        held = await _held(dsn)
        assert len(held) == 8  # one row per photo: nothing twice
        for photo, data in mine.items():
            assert held["d0", photo] == ("stored", None, data)
        assert held["d1", "ph-x"][:2] == ("rejected", "wrong_locker")
        assert held["d2", "ph-u"][:2] == ("rejected", "not_enrolled")
        assert sources[0].done == dict.fromkeys(mine)
        assert sources[1].done == {"ph-x": "wrong_locker"}
        conn = await asyncpg.connect(dsn)
        try:
            alarms = await conn.fetch("SELECT device, kind FROM alarms ORDER BY device")
        finally:
            await conn.close()
        assert [(r["device"], r["kind"]) for r in alarms] == [
            ("d1", "EVIDENCE_REJECTED"),
            ("d2", "EVIDENCE_REJECTED"),
        ]
    finally:
        await stop_devices(devices)
        workers.stop()
