"""Door supervision: watch every door sensor and raise alarms the hub and staff act on.

A long task (`DoorSupervisor.run`) polls `DoorSensors.read_all()` every few hundred ms. Each sweep
(`poll_once`) compares the readings with the last ones and, in ONE transaction when anything
changed: records each sensor change (`door.sensor`), decides whether a door that opened was
commanded (a row in `door_openings` within `commanded_window_s`) or forced (`door.forced`),
confirms commanded openings (`seen_open`), declares a door jammed when a delivered latch pulse
left its sensor closed for `jam_after_s` (`door.jammed`: the door is faulted and a pickup is
undone, so the parcel stays collectable), and raises `door.left_open` (reminder, then alarm) and
`door.sensor_dead`. Every alarm is an outbox event and an audit entry (`journal.record`).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass

from agent.domain.clock import Clock
from agent.services.supervision_records import (
    Alarm,
    Applied,
    SensorChange,
    SupervisionPolicy,
    Sweep,
    apply_sweep,
    judge_openings,
    mark_jammed,
    stored_sensors,
)
from agent.store.db import Database
from agent.store.doors import unconcluded_openings
from hardware.doors.port import DoorSensors, SensorState
from hardware.errors import HardwareError

_LOG = logging.getLogger(__name__)

DoorCallback = Callable[[int, float], Awaitable[None]]
LockerCallback = Callable[[float], Awaitable[None]]
_RECENT_ALARMS = 20


# -- the supervisor -------------------------------------------------------------------------------


@dataclass(slots=True)
class _DoorWatch:
    sensor: SensorState
    open_since: float | None = None
    left_open_level: int = 0  # 0 none, 1 reminder sent, 2 alarm sent
    dead: bool = False  # a sensor_dead alarm was raised and not yet restored


class DoorSupervisor:
    """Polls the door sensors and raises alarms. `on_door_fault(door, now)` is awaited after a
    door was declared jammed (e.g. to pause its holds); `on_door_closed(door, now)` after a door
    closed (e.g. to confirm a courier's load). A failing callback is logged, never fatal."""

    def __init__(
        self,
        db: Database,
        sensors: DoorSensors,
        clock: Clock,
        policy: SupervisionPolicy | None = None,
        *,
        on_door_fault: DoorCallback | None = None,
        on_door_closed: DoorCallback | None = None,
        on_locker_fault: LockerCallback | None = None,
        on_locker_restored: LockerCallback | None = None,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self._db = db
        self._sensors = sensors
        self._clock = clock
        self._policy = policy or SupervisionPolicy()
        self._on_door_fault = on_door_fault
        self._on_door_closed = on_door_closed
        self._on_locker_fault = on_locker_fault
        self._on_locker_restored = on_locker_restored
        self._bus_down: bool | None = None  # None: not read yet since start
        self._sleep = sleep
        self._doors: dict[int, _DoorWatch] | None = None
        self._started_at = 0.0
        self._last_poll: float | None = None
        self._running = False
        self._recent: list[Alarm] = []
        self.alarm_counts: dict[str, int] = {}  # alarms raised since start, by kind (metrics)

    @property
    def policy(self) -> SupervisionPolicy:
        """The supervision timings in use."""
        return self._policy

    async def run(self) -> None:
        """Poll until cancelled. A failed sweep is logged and the next one tries again."""
        self._running = True
        failures = 0
        try:
            while True:
                try:
                    await self.poll_once()
                    failures = 0
                except Exception:
                    failures += 1
                    if failures in (1, 10) or failures % 1000 == 0:
                        _LOG.exception("door supervision sweep failed (%s in a row)", failures)
                await self._sleep(self._policy.poll_s)
        finally:
            self._running = False

    async def poll_once(self, now: float | None = None) -> list[Alarm]:
        """One sweep at `now` (default: the clock). Returns the alarms it raised."""
        now = self._clock.now() if now is None else now
        polled = await self._read_sensors()
        await self._watch_bus(polled, now)
        readings = polled if polled is not None else self._all_unknown()
        if self._doors is None:
            stored = await self._db.read(stored_sensors)
            self._doors = {n: _DoorWatch(s) for n, s in stored.items()}
            self._started_at = now
        changes = self._changes(readings, now)
        pending = await self._db.read(unconcluded_openings)
        verdicts = judge_openings(
            pending, readings, now=now, since=self._started_at, policy=self._policy
        )
        sweep = Sweep(tuple(changes), tuple(verdicts), tuple(self._left_open(now)))
        self._last_poll = now
        if not sweep:
            return []
        applied = await self._db.run(apply_sweep, sweep, now, self._policy)
        await self._after(applied, changes, now)
        return applied.alarms

    async def report_jam(self, opening_id: int, *, detected_by: str) -> Alarm | None:
        """Declare a commanded opening jammed on outside evidence (a customer's report)."""
        now = self._clock.now()
        alarm = await self._db.run(mark_jammed, opening_id, now=now, detected_by=detected_by)
        if alarm is not None:
            await self._after(Applied([alarm], [alarm.door]), [], now)
        return alarm

    def door_condition(self, door: int) -> tuple[SensorState, float | None, int]:
        """(last sensor reading, seconds open, left-open level 0/1/2) as the supervisor saw it."""
        watch = (self._doors or {}).get(door)
        if watch is None or self._last_poll is None:
            return SensorState.UNKNOWN, None, 0
        open_s = None if watch.open_since is None else self._last_poll - watch.open_since
        return watch.sensor, open_s, watch.left_open_level

    def status_section(self) -> dict[str, object]:
        """The `supervision` section of `/api/v1/status`."""
        doors = self._doors or {}
        return {
            "running": self._running,
            "last_poll_at": self._last_poll,
            "open": sorted(n for n, w in doors.items() if w.sensor is SensorState.OPEN),
            "left_open": {str(n): w.left_open_level for n, w in doors.items() if w.left_open_level},
            "sensor_dead": sorted(n for n, w in doors.items() if w.dead),
            "recent_alarms": [
                {"kind": a.kind, "door": a.door, "at": a.at, "order": a.order_id}
                for a in self._recent
            ],
        }

    async def _read_sensors(self) -> Mapping[int, SensorState] | None:
        """The readings, or None when the door bus as a whole could not be read."""
        try:
            readings = dict(await self._sensors.read_all())
        except HardwareError as err:
            _LOG.warning("door sensors unreadable: %s", err)
            return None
        if len(readings) > 1 and all(r is SensorState.UNKNOWN for r in readings.values()):
            return None  # not one door answers: the bus (or its power) is down, not a sensor
        return readings

    async def _watch_bus(self, readings: Mapping[int, SensorState] | None, now: float) -> None:
        """A door bus that nobody can read is a locker-wide fault: every hold pauses until it
        reads again (`on_locker_fault` / `on_locker_restored`, each once per change; the first
        good reading after a start also resumes a pause a previous run left in force)."""
        down = readings is None
        if down == self._bus_down:
            return
        self._bus_down = down
        if down:
            _LOG.warning("door bus unreadable: locker-wide fault, every hold paused")
        callback = self._on_locker_fault if down else self._on_locker_restored
        if callback is not None:
            try:
                await callback(now)
            except Exception:
                _LOG.exception("a locker-wide supervision callback failed")

    def _all_unknown(self) -> dict[int, SensorState]:
        return dict.fromkeys(self._doors or {}, SensorState.UNKNOWN)

    def _changes(self, readings: Mapping[int, SensorState], now: float) -> list[SensorChange]:
        assert self._doors is not None  # noqa: S101 - set by poll_once
        changes = []
        for door, watch in self._doors.items():
            after = readings.get(door, SensorState.UNKNOWN)
            if after is SensorState.OPEN and watch.open_since is None:
                watch.open_since = now  # also a door found open at start
            if after is watch.sensor:
                continue
            open_s = None
            if after is not SensorState.OPEN and watch.open_since is not None:
                open_s = now - watch.open_since
                watch.open_since, watch.left_open_level = None, 0
            restored = watch.dead and after is not SensorState.UNKNOWN
            watch.dead = after is SensorState.UNKNOWN
            changes.append(SensorChange(door, watch.sensor, after, open_s, restored))
            watch.sensor = after
        return changes

    def _left_open(self, now: float) -> list[tuple[int, str, float]]:
        due = []
        for door, watch in (self._doors or {}).items():
            if watch.open_since is None:
                continue
            open_s = now - watch.open_since
            if watch.left_open_level < 2 and open_s >= self._policy.alarm_after_s:
                watch.left_open_level = 2
                due.append((door, "alarm", open_s))
            elif watch.left_open_level < 1 and open_s >= self._policy.reminder_after_s:
                watch.left_open_level = 1
                due.append((door, "reminder", open_s))
        return due

    async def _after(self, applied: Applied, changes: list[SensorChange], now: float) -> None:
        for alarm in applied.alarms:
            _LOG.warning("door alarm %s on door %s", alarm.kind, alarm.door)
            self.alarm_counts[alarm.kind] = self.alarm_counts.get(alarm.kind, 0) + 1
        self._recent = (self._recent + applied.alarms)[-_RECENT_ALARMS:]
        for door in applied.jammed_doors:
            await self._notify(self._on_door_fault, door, now)
        for change in changes:
            if change.before is SensorState.OPEN and change.after is SensorState.CLOSED:
                await self._notify(self._on_door_closed, door=change.door, now=now)

    @staticmethod
    async def _notify(callback: DoorCallback | None, door: int, now: float) -> None:
        if callback is None:
            return
        try:
            await callback(door, now)
        except Exception:
            _LOG.exception("door %s: a supervision callback failed", door)
