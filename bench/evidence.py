"""Evidence photos: the compartment check's accuracy, and capture + sign + queue latency.

Run: .venv/bin/python bench/evidence.py [--doors N] [--rounds N]

1. Accuracy of `agent.evidence.compartment.check_compartment` (default threshold) on rendered
   compartments (`hardware.camera.compartment_sim`): for each of `--doors` doors, the empty
   reference is
   one shot, then 10 other empty shots (exposure drift, daylight from the open door, camera
   shift up to 5 px, noise) and 4 shots each of a cardboard box, a dark polybag and a flat
   envelope at random sizes and places. Reports the detection per class and the margin (the
   changed fraction of the hardest case of each class against the threshold).
2. Latency of one evidence photo end to end, as the agent takes it
   (`PhotoRecorder.photograph`): audit head read, simulated 1280x720 capture, JPEG encode
   (quality 80), compartment check, C2PA manifest signed with a fresh fleet device CA's device
   key (ES256), file write with fsync, and the SQLite transaction (row + outbox + audit) on a
   real database file. Target p99 <= 150 ms. The parts are also timed alone.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from pathlib import Path

import cv2

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from agent.config.evidence import EvidenceConfig
from agent.domain.clock import SystemClock
from agent.evidence.compartment import check_compartment
from agent.evidence.manifest import EvidenceFacts
from agent.evidence.recorder import PhotoRecorder
from agent.evidence.signing import EvidenceSigner
from agent.store.db import Database
from hardware.camera.compartment import Bgr, CompartmentCamera
from hardware.camera.compartment_sim import (
    PARCEL_KINDS,
    Parcel,
    SimulatedCompartmentCamera,
    render_compartment,
)
from provisioning import device_ca

SIZE = (1280, 720)


def _pct(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))]


def accuracy(doors: int) -> None:
    threshold = EvidenceConfig().occupied_min_changed
    empty: list[float] = []
    occupied: dict[str, list[float]] = {kind: [] for kind in PARCEL_KINDS}
    for door in range(1, doors + 1):
        reference = render_compartment(door, None, 0, SIZE)
        shots = (render_compartment(door, None, shot, SIZE) for shot in range(1, 11))
        empty.extend(
            check_compartment(photo, reference, min_changed_fraction=threshold).changed_fraction
            for photo in shots
        )
        for kind in PARCEL_KINDS:
            for n in range(4):
                photo = render_compartment(door, Parcel(kind, door * 100 + n), 50 + n, SIZE)
                check = check_compartment(photo, reference, min_changed_fraction=threshold)
                occupied[kind].append(check.changed_fraction)
    print(f"compartment check, threshold {threshold} (changed fraction), {doors} doors")
    right = sum(f <= threshold for f in empty)
    print(
        f"  empty     {right}/{len(empty)} judged empty; highest changed fraction {max(empty):.4f}"
    )
    total_right, total = right, len(empty)
    for kind, fractions in occupied.items():
        hit = sum(f > threshold for f in fractions)
        total_right += hit
        total += len(fractions)
        print(f"  {kind:<9} {hit}/{len(fractions)} judged occupied; lowest {min(fractions):.4f}")
    print(f"  accuracy  {total_right}/{total} = {100 * total_right / total:.1f} %")


class _HeldFrame(CompartmentCamera):
    """A camera whose frame is already in memory (as a real camera's buffer is): the latency of
    the agent's own work, without the simulator's rendering."""

    description = "held frame"

    def __init__(self, frame: Bgr) -> None:
        self._frame = frame

    def capture(self, door: int) -> Bgr:
        del door
        return self._frame.copy()


async def latency(rounds: int, *, held: bool) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        ca = device_ca.create_ca("bench", now=time.time())
        key, chain = device_ca.write_device_credentials(ca, "LK-BENCH", folder, now=time.time())
        signer = EvidenceSigner.from_files(key, chain)
        db = Database(folder / "agent.db")
        await db.open()
        camera = SimulatedCompartmentCamera(SIZE)
        source: CompartmentCamera = camera
        if held:
            source = _HeldFrame(render_compartment(1, Parcel("box", 1), 7, SIZE))
        config = EvidenceConfig(enabled=True)
        recorder = PhotoRecorder(db, source, signer, SystemClock(), locker_id="LK-BENCH",
                                 data_dir=folder, config=config)  # fmt: skip
        await recorder.door_opened("courier_load", door=1, order_ref="ORD-B")  # reference
        camera.place(1, Parcel("box", 1))
        for _ in range(5):  # warm-up
            await recorder.photograph("staff", door=1, order_ref=None)
        wall: list[float] = []
        for _ in range(rounds):
            start = time.perf_counter()
            taken = await recorder.photograph("staff", door=1, order_ref="ORD-B")
            wall.append((time.perf_counter() - start) * 1000)
            assert taken is not None
        parts = _parts(camera, signer, rounds)
        mean_bytes = await db.read(
            lambda conn: float(conn.execute("SELECT AVG(bytes) FROM evidence_photos").fetchone()[0])
        )
        await db.close()
    what = "frame held in memory" if held else "simulated render included"
    print(f"capture + sign + queue, 1280x720, {rounds} photos, {what}: "
          f"p50 {statistics.median(wall):.1f} ms, p99 {_pct(wall, 99):.1f} ms, "
          f"max {max(wall):.1f} ms")  # fmt: skip
    # a busy locker: 300 loads and 100 returns a day, before + after each, 20 reports/requests
    week = 7 * (2 * 300 + 2 * 100 + 20)
    print(f"  photo size (occupied compartment) {mean_bytes / 1024:.0f} KiB; a busy week "
          f"({week} photos) {week * mean_bytes / 2**20:.0f} MiB of the default "
          f"{config.budget_mb} MiB budget")  # fmt: skip
    if held:
        return
    for name, samples in parts.items():
        p50, p99 = statistics.median(samples), _pct(samples, 99)
        print(f"  {name:<22} p50 {p50:6.1f} ms  p99 {p99:6.1f} ms")


def _parts(
    camera: SimulatedCompartmentCamera, signer: EvidenceSigner, rounds: int
) -> dict[str, list[float]]:
    parts: dict[str, list[float]] = {"render (simulated)": [], "JPEG encode q80": [],
                                     "compartment check": [], "C2PA sign (ES256)": []}  # fmt: skip
    reference = camera.capture(1)
    facts = EvidenceFacts("bench", "LK-BENCH", 1, None, "staff", 1, "00" * 32, time.time(),
                          0.0, camera.description)  # fmt: skip
    for _ in range(rounds):
        t0 = time.perf_counter()
        photo = camera.capture(1)
        t1 = time.perf_counter()
        _, jpeg = cv2.imencode(".jpg", photo, [cv2.IMWRITE_JPEG_QUALITY, 80])
        t2 = time.perf_counter()
        check_compartment(photo, reference)
        t3 = time.perf_counter()
        signer.sign(jpeg.tobytes(), facts)
        t4 = time.perf_counter()
        for name, (a, b) in zip(parts, ((t0, t1), (t1, t2), (t2, t3), (t3, t4)), strict=True):
            parts[name].append((b - a) * 1000)
    return parts


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--doors", type=int, default=24)
    parser.add_argument("--rounds", type=int, default=200)
    args = parser.parse_args()
    accuracy(args.doors)
    asyncio.run(latency(args.rounds, held=False))
    asyncio.run(latency(args.rounds, held=True))


if __name__ == "__main__":
    main()
