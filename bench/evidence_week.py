"""A busy locker's evidence photos over a week (and a month) against the retention budget.

Run: .venv/bin/python bench/evidence_week.py [--samples N]

1. Photo sizes, measured: `--samples` drop-offs taken through the agent's own `PhotoRecorder` at
   the default policy (1280x720, JPEG q80, `before_after`): the "before" photo of the empty
   compartment and the "after" photo with a parcel (box, polybag, envelope in turn), which also
   carries the before photo's manifest as its ingredient; and single report photos.
2. A busy week at the default policy: 300 courier loads and 100 return drop-offs a day (before +
   after each) and 20 reports or staff requests a day, spread over 06:00-22:00, each photo sized
   from the measured samples in turn. The real retention rules (`agent.domain.retention`,
   default `retention_days` 30, `budget_mb` 2048, `alarm_percent` 80) are applied every hour in
   two cases: the hub confirms each photo within the hour, and the locker is offline all week
   (nothing confirmed, so nothing may be deleted). Reports the peak of the photos kept against
   the budget and whether the alarm or the "full" stop was reached.
3. The same online for 35 days: the steady state once the 30-day retention deletes as much as
   the locker takes; and offline for 45 days: when the alarm and the "full" stop come.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from agent.config.evidence import EvidenceConfig
from agent.domain.clock import ManualClock
from agent.domain.retention import StoredPhoto, plan_retention
from agent.evidence.recorder import PhotoRecorder
from agent.evidence.signing import EvidenceSigner
from agent.store.db import Database
from hardware.camera.compartment_sim import PARCEL_KINDS, Parcel, SimulatedCompartmentCamera
from provisioning import device_ca

LOADS, RETURNS, REPORTS = 300, 100, 20  # a day
DAY, HOUR = 86_400, 3_600


async def measured_sizes(samples: int) -> tuple[list[int], list[int], list[int]]:
    """(before, after, single) photo sizes in bytes, taken as the agent takes them."""
    config = EvidenceConfig(enabled=True)  # the defaults: 1280x720, q80
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        ca = device_ca.create_ca("bench", now=time.time())
        key, chain = device_ca.write_device_credentials(ca, "LK-BENCH", folder, now=time.time())
        db = Database(folder / "agent.db")
        await db.open()
        camera = SimulatedCompartmentCamera((config.width, config.height))
        recorder = PhotoRecorder(db, camera, EvidenceSigner.from_files(key, chain),
                                 ManualClock(time.time()), locker_id="LK-BENCH",
                                 data_dir=folder, config=config)  # fmt: skip
        for i in range(samples):
            door = 1 + i % 12
            camera.remove(door)
            await recorder.door_opened("courier_load", door=door, order_ref=f"ORD-{i}")
            camera.place(door, Parcel(PARCEL_KINDS[i % 3], i))
            await recorder.door_closed(door)
            await recorder.photograph("parcel_damaged", door=door, order_ref=f"ORD-{i}")
        rows = await db.read(
            lambda conn: conn.execute(
                "SELECT bytes, before_id IS NOT NULL, event FROM evidence_photos ORDER BY rowid"
            ).fetchall()
        )
        await db.close()
    before = [int(r[0]) for r in rows if r[2] == "courier_load" and not r[1]]
    after = [int(r[0]) for r in rows if r[1]]
    single = [int(r[0]) for r in rows if r[2] == "parcel_damaged"]
    return before, after, single


def schedule(days: int, sizes: tuple[list[int], list[int], list[int]]) -> list[tuple[float, int]]:
    """(capture time, bytes) of every photo of `days` busy days, in time order."""
    before, after, single = (itertools.cycle(s) for s in sizes)
    photos: list[tuple[float, int]] = []
    open_s = 16 * HOUR  # 06:00-22:00
    for day in range(days):
        start = day * DAY + 6 * HOUR
        for n, what in enumerate(["pair"] * (LOADS + RETURNS) + ["single"] * REPORTS):
            at = start + open_s * (n + 0.5) / (LOADS + RETURNS + REPORTS)
            if what == "pair":
                photos += [(at, next(before)), (at + 30, next(after))]
            else:
                photos.append((at, next(single)))
    return sorted(photos)


def simulate(photos: list[tuple[float, int]], days: int, *, online: bool) -> dict[str, float]:
    config = EvidenceConfig()
    budget = int(config.budget_mb * 2**20)
    kept: dict[str, StoredPhoto] = {}
    peak, alarm_at, full_at, deleted, refused = 0, None, None, 0, 0
    pending = iter(enumerate(photos))
    nxt = next(pending, None)
    full = False
    for hour in range(days * 24 + 1):
        now = hour * HOUR
        while nxt is not None and nxt[1][0] <= now:
            i, (at, size) = nxt
            if full:
                refused += 1
            else:
                uploaded = at + 600 if online else None  # confirmed ten minutes later
                kept[str(i)] = StoredPhoto(str(i), size, at, uploaded)
            nxt = next(pending, None)
        plan = plan_retention(list(kept.values()), now=now,
                              retention_s=config.retention_days * DAY, budget_bytes=budget,
                              alarm_fraction=config.alarm_percent / 100)  # fmt: skip
        for photo_id in plan.delete:
            del kept[photo_id]
        deleted += len(plan.delete)
        full = plan.full
        peak = max(peak, plan.kept_bytes)
        if plan.alarm and alarm_at is None:
            alarm_at = now / DAY
        if plan.full and full_at is None:
            full_at = now / DAY
    return {"peak_mib": peak / 2**20, "peak_pct": 100 * peak / budget, "deleted": deleted,
            "refused": refused, "alarm_day": -1 if alarm_at is None else alarm_at,
            "full_day": -1 if full_at is None else full_at}  # fmt: skip


def _day(at: float) -> str:
    return "no" if at < 0 else f"day {at:.1f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--samples", type=int, default=30)
    args = parser.parse_args()
    sizes = asyncio.run(measured_sizes(args.samples))
    for name, values in zip(
        ("before (empty)", "after (+ingredient)", "report"), sizes, strict=True
    ):
        print(f"photo size {name:<20} mean {sum(values) / len(values) / 1024:5.1f} KiB"
              f"  max {max(values) / 1024:5.1f} KiB  ({len(values)} photos)")  # fmt: skip
    week = schedule(7, sizes)
    total = sum(size for _, size in week)
    config = EvidenceConfig()
    print(f"a busy week: {len(week)} photos, {total / 2**20:.0f} MiB "
          f"({100 * total / (config.budget_mb * 2**20):.1f} % of the {config.budget_mb:.0f} MiB "
          f"budget; alarm at {config.alarm_percent} %)")  # fmt: skip
    for online in (True, False):
        r = simulate(week, 7, online=online)
        label = "online (confirmed within the hour)" if online else "offline all week"
        print(f"  {label:<36} peak {r['peak_mib']:6.0f} MiB = {r['peak_pct']:4.1f} %, "
              f"deleted {r['deleted']}, refused {r['refused']}, "
              f"alarm {_day(r['alarm_day'])}, full {_day(r['full_day'])}")  # fmt: skip
    month = schedule(35, sizes)
    r = simulate(month, 35, online=True)
    print(f"35 busy days online: peak {r['peak_mib']:.0f} MiB = {r['peak_pct']:.1f} % (the "
          f"30-day retention deleted {r['deleted']}), alarm {_day(r['alarm_day'])}, "
          f"refused {r['refused']}")  # fmt: skip
    r = simulate(schedule(45, sizes), 45, online=False)
    print(f"45 busy days offline: alarm {_day(r['alarm_day'])}, full {_day(r['full_day'])} "
          f"(then no new photo: {r['refused']} not taken), deleted {r['deleted']}")  # fmt: skip


if __name__ == "__main__":
    main()
