"""Fleet device CAs and device signers made with the real provisioning code, and real JPEGs."""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import pytest

from agent.evidence.manifest import EvidenceFacts
from agent.evidence.signing import EvidenceSigner
from provisioning import device_ca


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
    img = cv2.merge([img, img, img])
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
