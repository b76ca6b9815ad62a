"""The one worker that schedules: command re-sends, the trust bundle series, trust-age alarms.

Every worker runs a `Leader`; the one holding the PostgreSQL advisory lock (on a connection of
its own) acts, the others wait. When the leader dies its connection closes, the lock frees, and
another worker takes over within `poll_s`.

Trust bundles: the roots stay offline. An offline step (`locker-hub presign-bundles`) signs a
series of bundles ahead of time, one every `--every` days, each valid for its window
(docs/hub.md, "Key hierarchy"). The leader loads the series into `trust_bundles` and publishes,
retained on `lk/v1/F/trust`, the newest whose `issued_at` has come, each exactly when it comes.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import asyncpg

from hub_sync.errors import MqttError
from hub_sync.hub.db import Conn
from hub_sync.hub.ingest import raise_alarms
from hub_sync.hub.store import COMMANDS_CHANNEL
from hub_sync.protocol.wire import Header, encode, new_message_id, trust_topic

if TYPE_CHECKING:
    from hub_sync.hub.worker import FleetWorker

_LOG = logging.getLogger(__name__)
_LEADER_LOCK = 0x6C6B6875620002
TRUST_ALARM = "TRUST_BUNDLE_OLD"


@dataclass(frozen=True, slots=True)
class LeaderSettings:
    """Where the pre-signed bundles are, how often the leader looks, the devices' trust grace."""

    bundles: Path | None = None
    poll_s: float = 2.0
    #: the devices' trust grace (agent `trust.grace_hours`); alarm past half of it
    grace_s: float = 14 * 86_400


def load_series(folder: Path) -> list[dict[str, object]]:
    """The pre-signed series: `series.json` entries with the bundle bytes as base64."""
    entries = json.loads((folder / "series.json").read_text("utf-8"))
    out = []
    for e in entries:
        data = (folder / str(e["file"])).read_bytes()
        out.append({**e, "bundle": base64.b64encode(data).decode("ascii")})
    return out


async def import_series(conn: Conn, fleet: str, folder: Path) -> int:
    """Load the bundle series in `folder` into `trust_bundles` (those already there stay); how
    many the folder holds."""
    rows = [
        (fleet, int(str(e["version"])), float(str(e["issued_at"])),
         float(str(e["next_update"])), e["bundle"])
        for e in load_series(folder)
    ]  # fmt: skip
    await conn.executemany(
        "INSERT INTO trust_bundles (fleet, version, issued_at, next_update, bundle)"
        " VALUES ($1,$2,$3,$4,$5) ON CONFLICT DO NOTHING",
        rows,
    )
    return len(rows)


def trust_payload(fleet: str, bundle: str, version: int, now: float) -> bytes:
    """The retained trust message that carries `bundle` (its `version`) to every device."""
    header = Header("trust", new_message_id(), fleet, "*", now)
    return encode(header, {"bundle": bundle, "version": version})


class Leader:
    """Schedules for the fleet while this worker holds the leader lock: command re-sends,
    bundles as they come due, trust-age alarms."""

    def __init__(
        self,
        worker: FleetWorker,
        settings: LeaderSettings,
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._w = worker
        self._s = settings
        self._clock = clock
        self.is_leader = False
        self.published: list[int] = []

    async def run(self) -> None:
        """Once the worker has started: take the lock when it is free and lead until it is lost;
        database errors are logged and the lock tried again after `poll_s`. Only cancellation
        ends it."""
        await self._w.started.wait()
        assert self._w.pool is not None  # noqa: S101 (set before `started`)
        while True:
            try:
                await self._lead(self._w.pool)
            except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as err:
                _LOG.warning("leader: %s", type(err).__name__)
            self.is_leader = False
            await asyncio.sleep(self._s.poll_s)

    async def _lead(self, pool: asyncpg.Pool) -> None:
        async with pool.acquire() as lock_conn:
            await self._take_lock(lock_conn)
            self.is_leader = True
            wake = asyncio.Event()

            def woken(*_args: object) -> None:
                wake.set()

            try:
                if self._s.bundles is not None:
                    async with pool.acquire() as conn:
                        await import_series(conn, self._w.s.fleet, self._s.bundles)
                await lock_conn.add_listener(COMMANDS_CHANNEL, woken)
                while True:
                    await self.tick(pool)
                    # new commands at once (NOTIFY), unanswered ones to online lockers every 30 s
                    with contextlib.suppress(MqttError):
                        await self._w.send_pending([None])
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(wake.wait(), self._s.poll_s)
                    wake.clear()
            finally:
                # a connection released with a listener still on it warns, and where warnings are
                # errors the release fails and the pool never closes: take it off first
                with contextlib.suppress(Exception):
                    await lock_conn.remove_listener(COMMANDS_CHANNEL, woken)
                with contextlib.suppress(Exception):
                    await lock_conn.execute("SELECT pg_advisory_unlock($1)", _LEADER_LOCK)

    async def _take_lock(self, conn: Conn) -> None:
        """Wait until this worker holds the leader lock (the lock dies with the connection)."""
        while True:
            if await conn.fetchval("SELECT pg_try_advisory_lock($1)", _LEADER_LOCK):
                return
            await asyncio.sleep(self._s.poll_s)

    async def tick(self, pool: asyncpg.Pool) -> None:
        """Publish the bundle that is due; raise and clear trust-age alarms."""
        now = self._clock()
        fleet = self._w.s.fleet
        async with pool.acquire() as conn:
            due = await conn.fetchrow(
                "SELECT version, bundle, published_at FROM trust_bundles WHERE fleet = $1"
                " AND issued_at <= $2 ORDER BY version DESC LIMIT 1",
                fleet, now,
            )  # fmt: skip
            if due is not None and due["published_at"] is None and self._w.mqtt is not None:
                try:
                    await self._w.publish_retained(
                        trust_topic(fleet), trust_payload(fleet, due["bundle"], due["version"], now)
                    )
                except MqttError as err:
                    _LOG.warning("trust publish: %s", err)
                else:
                    await conn.execute(
                        "UPDATE trust_bundles SET published_at = $3 WHERE fleet = $1"
                        " AND version = $2",
                        fleet, due["version"], now,
                    )  # fmt: skip
                    self.published.append(int(due["version"]))
                    _LOG.info("published trust bundle v%s for fleet %s", due["version"], fleet)
            await self._trust_alarms(conn, fleet, now)

    async def _trust_alarms(self, conn: Conn, fleet: str, now: float) -> None:
        limit = now - self._s.grace_s / 2
        old = await conn.fetch(
            "SELECT device, trust_version, trust_issued_at FROM devices WHERE fleet = $1"
            " AND trust_issued_at IS NOT NULL AND trust_issued_at < $2",
            fleet, limit,
        )  # fmt: skip
        await raise_alarms(
            conn,
            [(fleet, r["device"], TRUST_ALARM,
              f"bundle v{r['trust_version']} issued {int(now - r['trust_issued_at'])} s ago")
             for r in old],
            now,
        )  # fmt: skip
        await conn.execute(
            "UPDATE alarms SET cleared_at = $3 FROM devices d WHERE alarms.fleet = $1"
            " AND alarms.kind = $2 AND alarms.cleared_at IS NULL AND d.fleet = alarms.fleet"
            " AND d.device = alarms.device AND d.trust_issued_at >= $4",
            fleet, TRUST_ALARM, now, limit,
        )  # fmt: skip
