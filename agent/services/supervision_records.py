"""Door supervision's records: what one sensor sweep decided, and the transactions that apply
it (sensor changes, commanded vs forced openings, jams, left-open reminders). Steps on the
caller's connection through the store's repositories, run inside `Database.run` by
`agent.services.supervision.DoorSupervisor`.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Mapping
from dataclasses import dataclass, field, replace

from agent.domain.doors import OpeningResult
from agent.domain.orders import OrderEvent, OrderState
from agent.store import journal
from agent.store.doors import (
    Opening,
    conclude_opening,
    get_door,
    get_opening,
    latest_commanded_opening,
    mark_seen_open,
    save_door,
    sensor_readings,
    set_opening_outcome,
    set_sensor,
)
from agent.store.orders import flag_order, get_order, save_order, unspend_tokens_of_opening
from hardware.doors.port import SensorState

JAMMED = "jammed"


@dataclass(frozen=True, slots=True)
class SupervisionPolicy:
    """Supervision timings: polling, the commanded window, jams and left-open doors."""

    poll_s: float = 0.25
    commanded_window_s: float = 10.0
    jam_after_s: float = 5.0
    reminder_after_s: float = 60.0
    alarm_after_s: float = 180.0


@dataclass(frozen=True, slots=True)
class SensorChange:
    """One door sensor's change between two polls."""

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
    """An alarm a sweep raised (jam, forced opening, left open...)."""

    kind: str
    door: int
    at: float
    order_id: str | None = None


@dataclass(slots=True)
class Applied:
    """What applying a sweep raised: its alarms and the doors found jammed."""

    alarms: list[Alarm] = field(default_factory=list)
    jammed_doors: list[int] = field(default_factory=list)


# -- transaction functions (run inside Database.run) ----------------------------------------------


def mark_jammed(
    conn: sqlite3.Connection, opening_id: int, *, now: float, detected_by: str
) -> Alarm | None:
    """Conclude that a commanded door never opened: fault the door (out of assignment until
    staff clear it) and, for a pickup, undo the collect like a failed latch (order back to
    collectable, token un-spent). Idempotent: a concluded opening is left alone (None)."""
    opening = get_opening(conn, opening_id)
    if opening is None or opening.outcome not in (None, "unverified"):
        return None
    door, order_id, purpose = opening.door, opening.order_id, opening.purpose
    set_opening_outcome(conn, opening_id, JAMMED)
    known = get_door(conn, door)
    if known is not None:
        save_door(conn, known.faulted(JAMMED, now))
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
    order = get_order(conn, order_id) if order_id else None
    if order is None or order.state is not OrderState.COLLECTED or order.door != door:
        return False
    back = replace(order.apply(OrderEvent.UNDO_COLLECT, now), needs_attention="door_jammed")
    save_order(conn, back, now=now)
    unspend_tokens_of_opening(conn, opening_id)
    return True


def apply_sweep(
    conn: sqlite3.Connection, sweep: Sweep, now: float, policy: SupervisionPolicy
) -> Applied:
    """Applies one sweep in a transaction: sensor changes, opening verdicts and left-open doors."""
    applied = Applied()
    for change in sweep.changes:
        applied.alarms.extend(_record_change(conn, change, now, policy))
    for opening_id, outcome in sweep.verdicts:
        if outcome == JAMMED:
            alarm = mark_jammed(conn, opening_id, now=now, detected_by="sensor")
            if alarm is not None:
                applied.alarms.append(alarm)
                applied.jammed_doors.append(alarm.door)
        else:
            conclude_opening(conn, opening_id, outcome)
    for door, level, open_s in sweep.left_open:
        body = {"door": door, "level": level, "open_s": round(open_s, 1)}
        journal.record(conn, "door.left_open", body, now=now, door=door)
        applied.alarms.append(Alarm("door.left_open", door, now))
    return applied


def _record_change(
    conn: sqlite3.Connection, change: SensorChange, now: float, policy: SupervisionPolicy
) -> list[Alarm]:
    door = change.door
    set_sensor(conn, door, change.after.value)
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
    mark_seen_open(conn, door, now)
    if change.before is not SensorState.CLOSED:
        return []  # from unknown we cannot tell when it opened
    return _judge_opening(conn, door, now, policy)


def _judge_opening(
    conn: sqlite3.Connection, door: int, now: float, policy: SupervisionPolicy
) -> list[Alarm]:
    """A door went from closed to open: commanded recently, or forced?"""
    latest = latest_commanded_opening(conn, door, now - policy.commanded_window_s)
    if latest is None:
        journal.record(conn, "door.forced", {"door": door}, now=now, door=door)
        return [Alarm("door.forced", door, now)]
    if latest.outcome != JAMMED:
        return []
    # Declared jammed (and the pickup undone), then it opened after all: staff must look.
    order_id = latest.order_id
    if order_id is not None:
        flag_order(conn, order_id, "opened_after_jam", now)
    body = {"door": door, "order": order_id}
    journal.record(conn, "door.opened_after_jam", body, now=now, order_id=order_id, door=door)
    return [Alarm("door.opened_after_jam", door, now, order_id)]


def stored_sensors(conn: sqlite3.Connection) -> dict[int, SensorState]:
    """The last sensor reading stored for each door."""
    return {door: SensorState(reading) for door, reading in sensor_readings(conn).items()}


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
        if opening.result is not None and OpeningResult(opening.result).not_opened:
            verdicts.append((opening.opening_id, "not_opened"))
            continue
        if opening.result != OpeningResult.OPENED or opening.finished_at is None:
            continue  # the latch command is still under way
        reading = readings.get(opening.door, SensorState.UNKNOWN)
        if reading is SensorState.OPEN:
            verdicts.append((opening.opening_id, "seen_open"))
        elif now - opening.finished_at >= policy.jam_after_s:
            blind = reading is SensorState.UNKNOWN or opening.finished_at < since
            verdicts.append((opening.opening_id, "unverified" if blind else JAMMED))
    return verdicts
