"""The locker's KPIs and outbox figures for `/metrics`, and the daily `kpi.snapshot` for the hub.

Everything here is read from the database at scrape time (`refresh`), so it is true after a
restart and while the hub link is down: KPIs are folded from the append-only audit log
(`agent/domain/kpis.py`), failed typed-code attempts come from the persisted `kpi_counters`, and
the outbox depth is counted in the outbox itself.
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass

from agent.domain.clock import Clock
from agent.domain.kpis import AuditRow, KpiState
from agent.errors import AgentError
from agent.observability.metrics import Gauge, HistogramValue, Sample
from agent.services.attempts import FAILED_COUNTER
from agent.store import journal, kpis, outbox
from agent.store.db import Database

_LOG = logging.getLogger(__name__)

KPI_SNAPSHOT_EVERY_S = 86_400.0
_SNAPSHOT_SETTING = "kpi_snapshot_at"


@dataclass(frozen=True, slots=True)
class _Read:
    rows: list[AuditRow]
    failures: dict[str, int]
    outbox_depth: int
    outbox_oldest: float | None


def _read(conn: sqlite3.Connection, after_seq: int) -> _Read:
    rows = kpis.kpi_rows_after(conn, after_seq)
    failures = kpis.counter_values(conn, FAILED_COUNTER)
    depth, oldest = outbox.depth_and_oldest(conn)
    return _Read(rows, failures, depth, oldest)


class KpiService:
    """The KPI gauges, folded from the audit log and refreshed before each scrape."""

    def __init__(self, db: Database, clock: Clock) -> None:
        self._db = db
        self._clock = clock
        self._state = KpiState()
        self._failures: dict[str, int] = {}
        self._outbox: tuple[int, float | None] = (0, None)
        self._lock = asyncio.Lock()

    async def refresh(self) -> None:
        """Fold the audit rows written since the last refresh; re-read counters and outbox."""
        async with self._lock:
            read = await self._db.read(_read, self._state.last_seq)
            self._state.fold(read.rows)
            self._failures = read.failures
            self._outbox = (read.outbox_depth, read.outbox_oldest)

    def samples(self) -> Iterator[Sample]:
        """The KPIs as Prometheus samples, as of the last refresh."""
        state, now = self._state, self._clock.now()
        depth, oldest = self._outbox
        yield Gauge("locker_outbox_depth", "Events not yet confirmed by the hub.", depth)
        yield Gauge(
            "locker_outbox_oldest_age_seconds",
            "Age of the oldest unconfirmed event (0 when none).",
            0.0 if oldest is None else max(0.0, now - oldest),
        )
        yield HistogramValue(
            "locker_order_dwell_seconds",
            "Time from loading to collection of collected orders.",
            state.cumulative_dwell(),
            state.dwell_sum_s,
        )
        yield _counter("locker_orders_collected_total", "Orders collected.", state.collected)
        yield _counter(
            "locker_orders_collected_within_hold_total",
            "Orders collected within their promised hold (the SLA).",
            state.collected_within_hold,
        )
        yield _counter("locker_orders_expired_total", "Orders whose hold ended.", state.expired)
        for kind, count in sorted(state.returns.items()):
            yield _counter("locker_returns_total", "Returns by step.", count, kind=kind)
        for label, count in sorted(self._failures.items()):
            via, _, reason = label.partition(":")
            yield _counter(
                "locker_failed_attempts_total",
                "Failed typed-code and staff PIN attempts by path and reason (persisted).",
                count,
                via=via,
                reason=reason,
            )

    def snapshot_body(self) -> dict[str, object]:
        """The `kpi.snapshot` event body: cumulative counts since the database was created."""
        state = self._state
        return {
            "collected": state.collected,
            "collected_within_hold": state.collected_within_hold,
            "expired": state.expired,
            "dwell_seconds_sum": round(state.dwell_sum_s, 1),
            "dwell_buckets": [
                ["+Inf" if b == float("inf") else int(b), c] for b, c in state.cumulative_dwell()
            ],
            "returns": dict(sorted(state.returns.items())),
            "failed_attempts": dict(sorted(self._failures.items())),
        }

    async def maybe_send_snapshot(self) -> bool:
        """Queue a `kpi.snapshot` event if the last one is older than a day (restarts too)."""
        await self.refresh()
        now = self._clock.now()
        return await self._db.run(_queue_snapshot, self.snapshot_body(), now)

    async def run(self, check_s: float = 3600.0) -> None:
        """Check hourly until cancelled; a full disk only delays the snapshot."""
        while True:
            try:
                await self.maybe_send_snapshot()
            except AgentError as err:
                _LOG.warning("kpi snapshot not queued: %s", err.reason.value)
            await asyncio.sleep(check_s)


def _queue_snapshot(conn: sqlite3.Connection, body: dict[str, object], now: float) -> bool:
    last = float(journal.get_setting(conn, _SNAPSHOT_SETTING) or 0.0)
    if 0 <= now - last < KPI_SNAPSHOT_EVERY_S:
        return False
    journal.record(conn, "kpi.snapshot", body, now=now)  # the hub gets it, the audit too
    journal.put_setting(conn, _SNAPSHOT_SETTING, repr(now))
    return True


def _counter(name: str, help_text: str, value: float, **labels: str) -> Gauge:
    return Gauge(name, help_text, value, labels or None, kind="counter")
