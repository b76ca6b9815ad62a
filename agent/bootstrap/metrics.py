"""The agent's own metrics (beyond the services' counters): storage, doors, camera, hub link,
KPIs; and the persistence of in-process counters across restarts.

In-process counters (`Metrics.count`) are saved in `kpi_counters` every `COUNTER_SAVE_S` and at
shutdown, and restored at start, so a restart does not reset them (a crash loses at most the
last interval's counts, which Prometheus reads as an ordinary counter reset).
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
from collections.abc import Iterable

from agent.bootstrap.services import Services
from agent.errors import AgentError
from agent.observability.metrics import Gauge, Metrics, Sample
from agent.store.db import Database, StorageHealth
from hardware.camera.scanner import Scanner
from hub_sync.device.sync import DeviceSync

_LOG = logging.getLogger(__name__)

COUNTER_SAVE_S = 300.0
_PREFIX = "metric:"


def register_metrics(
    metrics: Metrics,
    health: StorageHealth,
    services: Services,
    scanner: Scanner | None,
    sync: DeviceSync | None,
) -> None:
    """Everything `/metrics` reads at scrape time."""
    metrics.gauges.append(lambda: _samples(health, services, scanner, sync))
    metrics.refreshers.append(services.kpis.refresh)
    metrics.gauges.append(services.kpis.samples)


def _samples(
    health: StorageHealth,
    services: Services,
    scanner: Scanner | None,
    sync: DeviceSync | None,
) -> Iterable[Sample]:
    yield Gauge("locker_storage_ok", "1 while the database can be written.", float(health.ok))
    yield Gauge(
        "locker_storage_faults_total",
        "Storage faults (disk full, I/O errors) since start.",
        health.episodes,
        kind="counter",
    )
    for kind, count in sorted(services.supervisor.alarm_counts.items()):
        yield Gauge(
            "locker_door_alarms_total",
            "Door alarms since start (forced, left open, jammed, dead sensor).",
            count,
            {"kind": kind},
            kind="counter",
        )
    if scanner is not None:
        camera = scanner.health()
        yield Gauge("locker_camera_ok", "1 when frames are flowing.", float(camera.ok))
        if camera.decode_ms_p50 is not None:
            yield Gauge(
                "locker_decode_p50_seconds",
                "Median QR decode time per frame.",
                camera.decode_ms_p50 / 1000,
            )
    if sync is not None:
        stats = sync.stats()
        yield Gauge("locker_hub_connected", "1 while connected.", float(stats.connected))
        yield Gauge(
            "locker_hub_reconnects_total",
            "Reconnects since start.",
            stats.reconnects,
            kind="counter",
        )
        yield Gauge("locker_outbox_drain_alarm", "1 while the outbox is stuck.", stats.drain_alarm)


def _load(conn: sqlite3.Connection) -> list[tuple[str, str, float]]:
    rows = conn.execute(
        "SELECT name, label, value FROM kpi_counters WHERE name LIKE ?", (_PREFIX + "%",)
    ).fetchall()
    return [(str(r[0])[len(_PREFIX) :], str(r[1]), float(r[2])) for r in rows]


def _store(conn: sqlite3.Connection, rows: list[tuple[str, str, float]]) -> None:
    for name, labels, value in rows:
        conn.execute(
            "INSERT INTO kpi_counters (name, label, value) VALUES (?, ?, ?)"
            " ON CONFLICT (name, label) DO UPDATE SET value = excluded.value",
            (_PREFIX + name, labels, int(value)),
        )


async def restore_counters(metrics: Metrics, db: Database) -> None:
    """Loads the saved KPI counters into the metrics, so they survive a restart."""
    metrics.restore(await db.read(_load))


async def save_counters(metrics: Metrics, db: Database) -> None:
    """Saves the KPI counters to the database (nothing to do when there are none)."""
    rows = metrics.counter_values()
    if rows:
        await db.run(_store, rows)


async def save_counters_every(metrics: Metrics, db: Database, every_s: float) -> None:
    """Save until cancelled; a full disk only delays it."""
    while True:
        await asyncio.sleep(every_s)
        try:
            await save_counters(metrics, db)
        except AgentError as err:
            _LOG.warning("metric counters not saved: %s", err.reason.value)
