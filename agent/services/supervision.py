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
import sqlite3
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field, replace

from agent.clock import Clock
from agent.domain.orders import OrderEvent, OrderState
from agent.store import journal, lockers
from agent.store.db import Database
from hardware.doors import DoorSensors, SensorState
from hardware.errors import HardwareError

_LOG = logging.getLogger(__name__)

DoorCallback = Callable[[int, float], Awaitable[None]]
JAMMED = "jammed"
_RECENT_ALARMS = 20


@dataclass(frozen=True, slots=True)
class SupervisionPolicy:
    poll_s: float = 0.25
    commanded_window_s: float = 10.0
    jam_after_s: float = 5.0
    reminder_after_s: float = 60.0
    alarm_after_s: float = 180.0


@dataclass(frozen=True, slots=True)
class Opening:
    """A `door_openings` row that supervision has not concluded yet."""

    opening_id: int
    door: int
    order_id: str | None
    purpose: str
    result: str | None
    finished_at: float | None


@dataclass(frozen=True, slots=True)
class SensorChange:
    door: int
    before: SensorState
    after: SensorState
    open_s: float | None = None  # for a close: how long the door stood open
    restored: bool = False  # the sensor was dead and reads again


@dataclass(frozen=True, slots=True)
class Sweep:
    """Everything one poll decided, applied in one transaction."""

    changes: tuple[SensorChange, ...] = ()
    verdicts: tuple[tuple[int, str], ...] = ()  # (opening id, outcome) for pending openings
    left_open: tuple[tuple[int, str, float], ...] = ()  # (door, reminder|alarm, open seconds)

    def __bool__(self) -> bool:
        return bool(self.changes or self.verdicts or self.left_open)


@dataclass(frozen=True, slots=True)
class Alarm:
    kind: str
    door: int
    at: float
    order_id: str | None = None


@dataclass(slots=True)
class _Applied:
    alarms: list[Alarm] = field(default_factory=list)
    jammed_doors: list[int] = field(default_factory=list)


# -- transaction functions (run inside Database.run) ----------------------------------------------


def unsupervised_openings(conn: sqlite3.Connection) -> list[Opening]:
    rows = conn.execute(
        "SELECT id, door, order_id, purpose, result, finished_at FROM door_openings"
        " WHERE outcome IS NULL ORDER BY id"
    ).fetchall()
    return [Opening(int(r[0]), int(r[1]), r[2], str(r[3]), r[4], r[5]) for r in rows]


def mark_jammed(
    conn: sqlite3.Connection, opening_id: int, *, now: float, detected_by: str
) -> Alarm | None:
    """Conclude that a commanded door never opened: fault the door (out of assignment until
    staff clear it) and, for a pickup, undo the collect like a failed latch (order back to
    collectable, token un-spent). Idempotent: a concluded opening is left alone (None)."""
    row = conn.execute(
        "SELECT door, order_id, purpose, outcome FROM door_openings WHERE id = ?", (opening_id,)
    ).fetchone()
    if row is None or row["outcome"] not in (None, "unverified"):
        return None
    door, order_id, purpose = int(row["door"]), row["order_id"], str(row["purpose"])
    conn.execute("UPDATE door_openings SET outcome = ? WHERE id = ?", (JAMMED, opening_id))
    conn.execute(
        "UPDATE doors SET fault = COALESCE(fault, ?), fault_since = COALESCE(fault_since, ?)"
        " WHERE number = ?",
        (JAMMED, now, door),
    )
    restored = purpose == "pickup" and _undo_pickup(conn, opening_id, order_id, door, now)
    journal.record(
        conn,
        "door.jammed",
        {"door": door, "order": order_id, "purpose": purpose, "restored": restored,
         "detected_by": detected_by},
        now=now,
        order_id=order_id,
        door=door,
    )  # fmt: skip
    return Alarm("door.jammed", door, now, order_id)


def _undo_pickup(
    conn: sqlite3.Connection, opening_id: int, order_id: str | None, door: int, now: float
) -> bool:
    order = lockers.get_order(conn, order_id) if order_id else None
    if order is None or order.state is not OrderState.COLLECTED or order.door != door:
        return False
    back = replace(order.apply(OrderEvent.UNDO_COLLECT, now), needs_attention="door_jammed")
    lockers.save_order(conn, back, now=now)
    conn.execute("DELETE FROM spent_tokens WHERE opening_id = ?", (opening_id,))
    return True


def _apply_sweep(
    conn: sqlite3.Connection, sweep: Sweep, now: float, policy: SupervisionPolicy
) -> _Applied:
    applied = _Applied()
    for change in sweep.changes:
        applied.alarms.extend(_record_change(conn, change, now, policy))
    for opening_id, outcome in sweep.verdicts:
        if outcome == JAMMED:
            alarm = mark_jammed(conn, opening_id, now=now, detected_by="sensor")
            if alarm is not None:
                applied.alarms.append(alarm)
                applied.jammed_doors.append(alarm.door)
        else:
            conn.execute(
                "UPDATE door_openings SET outcome = ? WHERE id = ? AND outcome IS NULL",
                (outcome, opening_id),
            )
    for door, level, open_s in sweep.left_open:
        body = {"door": door, "level": level, "open_s": round(open_s, 1)}
        journal.record(conn, "door.left_open", body, now=now, door=door)
        applied.alarms.append(Alarm("door.left_open", door, now))
    return applied


def _record_change(
    conn: sqlite3.Connection, change: SensorChange, now: float, policy: SupervisionPolicy
) -> list[Alarm]:
    door = change.door
    conn.execute("UPDATE doors SET sensor = ? WHERE number = ?", (change.after.value, door))
    body: dict[str, object] = {"door": door, "from": change.before.value, "to": change.after.value}
    if change.open_s is not None:
        body["open_s"] = round(change.open_s, 1)
    journal.record(conn, "door.sensor", body, now=now, door=door)
    if change.after is SensorState.UNKNOWN:
        journal.record(conn, "door.sensor_dead", {"door": door}, now=now, door=door)
        return [Alarm("door.sensor_dead", door, now)]
    if change.restored:
        journal.record(conn, "door.sensor_restored", {"door": door}, now=now, door=door)
    if change.after is not SensorState.OPEN:
        return []
    conn.execute(
        "UPDATE door_openings SET seen_open_at = ?, outcome = 'seen_open' WHERE door = ?"
        " AND outcome IS NULL AND (result IS NULL OR result = 'opened')",
        (now, door),
    )
    if change.before is not SensorState.CLOSED:
        return []  # from unknown we cannot tell when it opened
    return _judge_opening(conn, door, now, policy)


def _judge_opening(
    conn: sqlite3.Connection, door: int, now: float, policy: SupervisionPolicy
) -> list[Alarm]:
    """A door went from closed to open: commanded recently, or forced?"""
    latest = conn.execute(
        "SELECT id, order_id, outcome FROM door_openings WHERE door = ? AND requested_at >= ?"
        " AND (result IS NULL OR result = 'opened') ORDER BY id DESC LIMIT 1",
        (door, now - policy.commanded_window_s),
    ).fetchone()
    if latest is None:
        journal.record(conn, "door.forced", {"door": door}, now=now, door=door)
        return [Alarm("door.forced", door, now)]
    if latest["outcome"] != JAMMED:
        return []
    # Declared jammed (and the pickup undone), then it opened after all: staff must look.
    order_id = latest["order_id"]
    if order_id is not None:
        conn.execute(
            "UPDATE orders SET needs_attention = 'opened_after_jam', updated_at = ?"
            " WHERE order_id = ?",
            (now, order_id),
        )
    body = {"door": door, "order": order_id}
    journal.record(conn, "door.opened_after_jam", body, now=now, order_id=order_id, door=door)
    return [Alarm("door.opened_after_jam", door, now, order_id)]


def _stored_sensors(conn: sqlite3.Connection) -> dict[int, SensorState]:
    rows = conn.execute("SELECT number, sensor FROM doors").fetchall()
    return {int(r[0]): SensorState(r[1]) for r in rows}


def judge_openings(
    pending: list[Opening],
    readings: Mapping[int, SensorState],
    *,
    now: float,
    since: float,
    policy: SupervisionPolicy,
) -> list[tuple[int, str]]:
    """Verdicts for openings not concluded yet (pure). `since`: when supervision started."""
    verdicts = []
    for opening in pending:
        if opening.result in ("failed", "interrupted"):
            verdicts.append((opening.opening_id, "not_opened"))
            continue
        if opening.result != "opened" or opening.finished_at is None:
            continue  # the latch command is still under way
        reading = readings.get(opening.door, SensorState.UNKNOWN)
        if reading is SensorState.OPEN:
            verdicts.append((opening.opening_id, "seen_open"))
        elif now - opening.finished_at >= policy.jam_after_s:
            blind = reading is SensorState.UNKNOWN or opening.finished_at < since
            verdicts.append((opening.opening_id, "unverified" if blind else JAMMED))
    return verdicts


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
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self._db = db
        self._sensors = sensors
        self._clock = clock
        self._policy = policy or SupervisionPolicy()
        self._on_door_fault = on_door_fault
        self._on_door_closed = on_door_closed
        self._sleep = sleep
        self._doors: dict[int, _DoorWatch] | None = None
        self._started_at = 0.0
        self._last_poll: float | None = None
        self._running = False
        self._recent: list[Alarm] = []
        self.alarm_counts: dict[str, int] = {}  # alarms raised since start, by kind (metrics)

    @property
    def policy(self) -> SupervisionPolicy:
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
        readings = await self._read_sensors()
        if self._doors is None:
            stored = await self._db.read(_stored_sensors)
            self._doors = {n: _DoorWatch(s) for n, s in stored.items()}
            self._started_at = now
        changes = self._changes(readings, now)
        pending = await self._db.read(unsupervised_openings)
        verdicts = judge_openings(
            pending, readings, now=now, since=self._started_at, policy=self._policy
        )
        sweep = Sweep(tuple(changes), tuple(verdicts), tuple(self._left_open(now)))
        self._last_poll = now
        if not sweep:
            return []
        applied = await self._db.run(_apply_sweep, sweep, now, self._policy)
        await self._after(applied, changes, now)
        return applied.alarms

    async def report_jam(self, opening_id: int, *, detected_by: str) -> Alarm | None:
        """Declare a commanded opening jammed on outside evidence (a customer's report)."""
        now = self._clock.now()
        alarm = await self._db.run(mark_jammed, opening_id, now=now, detected_by=detected_by)
        if alarm is not None:
            await self._after(_Applied([alarm], [alarm.door]), [], now)
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

    async def _read_sensors(self) -> Mapping[int, SensorState]:
        try:
            return dict(await self._sensors.read_all())
        except HardwareError as err:
            _LOG.warning("door sensors unreadable: %s", err)
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

    async def _after(self, applied: _Applied, changes: list[SensorChange], now: float) -> None:
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
