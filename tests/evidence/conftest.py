"""Fleet device CAs and device signers made with the real provisioning code, and real JPEGs."""

from __future__ import annotations

import asyncio
import json
import sqlite3
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import pytest

from agent.bootstrap.app import Agent, DoorHardware
from agent.domain.clock import ManualClock
from agent.evidence.manifest import EvidenceFacts
from agent.evidence.recorder import EVIDENCE_FOLDER
from agent.evidence.signing import EvidenceSigner
from hardware.camera.compartment_sim import SimulatedCompartmentCamera
from hardware.doors.sim import SimulatedLocker
from provisioning import device_ca
from tests.agent.ops.conftest import ops_config
from tests.hub_sync.conftest import wait_for


@dataclass(frozen=True)
class Fleet:
    ca: device_ca.DeviceCa
    ca_pem_path: Path
    folder: Path

    def signer(self, locker_id: str) -> EvidenceSigner:
        out = self.folder / locker_id
        key, chain = device_ca.write_device_credentials(self.ca, locker_id, out, now=time.time())
        return EvidenceSigner.from_files(key, chain)


def make_fleet(folder: Path, name: str) -> Fleet:
    ca = device_ca.create_ca(name, now=time.time())
    _, cert_path = device_ca.write_ca(ca, folder)
    return Fleet(ca, cert_path, folder)


@pytest.fixture
def fleet(tmp_path: Path) -> Fleet:
    return make_fleet(tmp_path / "fleet", "fleet-a")


@pytest.fixture
def other_fleet(tmp_path: Path) -> Fleet:
    return make_fleet(tmp_path / "other", "fleet-b")


def compartment_jpeg(seed: int = 0, size: tuple[int, int] = (640, 360)) -> bytes:
    rng = np.random.default_rng(seed)
    w, h = size
    img = np.tile(np.linspace(40, 200, w, dtype=np.uint8), (h, 1))
    img = np.asarray(cv2.merge([img, img, img]), dtype=np.uint8)
    cv2.rectangle(img, (w // 3, h // 3), (2 * w // 3, 2 * h // 3), (60, 120, 180), -1)
    noise = rng.integers(-8, 8, img.shape, dtype=np.int16)
    img = np.clip(img.astype(np.int16) + noise, 0, 255).astype(np.uint8)
    ok, buf = cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, 85])
    assert ok
    return bytes(buf.tobytes())


def facts_for(locker_id: str, **changes: object) -> EvidenceFacts:
    base: dict[str, object] = {
        "photo_id": "ph-0001",
        "locker_id": locker_id,
        "door": 3,
        "order_ref": "ORD-1001",
        "event": "return_dropoff",
        "audit_seq": 42,
        "audit_hash": "ab" * 32,
        "device_time": 1_800_000_000.0,
        "time_floor": 1_799_990_000.0,
        "capture_device": "simulated compartment camera",
    }
    base.update(changes)
    return EvidenceFacts(**base)  # type: ignore[arg-type]


LOCKER = "LK-OPS-001"


@dataclass
class EvidenceLocker:
    agent: Agent
    sim: SimulatedLocker
    camera: SimulatedCompartmentCamera
    ca_pem: str
    folder: Path

    async def photos(self) -> list[dict[str, object]]:
        def read(conn: sqlite3.Connection) -> list[dict[str, object]]:
            rows = conn.execute("SELECT * FROM evidence_photos ORDER BY captured_at, rowid")
            return [dict(r) for r in rows]

        return await self.agent.db.read(read)

    async def close_when_seen_open(self, door: int) -> None:
        """Close `door` once the supervisor has seen it open (as a person would, later)."""

        def seen(conn: sqlite3.Connection) -> bool:
            rows = conn.execute("SELECT body FROM outbox WHERE kind = 'door.sensor'").fetchall()
            return any(
                json.loads(r[0]) == {**json.loads(r[0]), "door": door, "to": "open"} for r in rows
            )

        async def opened() -> bool:
            return await self.agent.db.read(seen)

        await wait_for(opened, 10, f"the supervisor to see door {door} open")
        self.sim.close_door(door)


@pytest.fixture
async def locker(tmp_path: Path, request: pytest.FixtureRequest) -> AsyncIterator[EvidenceLocker]:
    """A locker taking evidence photos; `@pytest.mark.parametrize("locker", [{...}],
    indirect=True)` changes `[evidence]` keys."""
    changes = getattr(request, "param", {})
    data = tmp_path / "data"
    ca = device_ca.create_ca("fleet-e", now=time.time())
    _, ca_path = device_ca.write_ca(ca, tmp_path / "fleet")
    device_ca.write_device_credentials(ca, LOCKER, data, now=time.time())
    config = ops_config(data, "locker")
    evidence = config.evidence.model_copy(
        update={"enabled": True, "width": 640, "height": 360, **changes}
    )
    config = config.model_copy(update={"evidence": evidence})
    sim = SimulatedLocker(len(config.doors.layout()))
    camera = SimulatedCompartmentCamera((640, 360))
    agent = Agent(
        config,
        clock=ManualClock(time.time()),
        hardware=DoorHardware(sim, sim),
        compartment_camera=camera,
    )
    await agent.start()
    stop = asyncio.Event()
    serving = asyncio.create_task(agent.serve(stop), name="test.evidence-serve")
    try:
        yield EvidenceLocker(agent, sim, camera, ca_path.read_text(), data / EVIDENCE_FOLDER)
    finally:
        stop.set()
        await serving
        await agent.stop()
