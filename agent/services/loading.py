"""Courier loading: scan a parcel label, get a door, put the parcel in, close the door.

A load is two steps. `start_load` reserves a door in one transaction (a `pending` row in `loads`
occupies the door), then pulses the latch. The parcel counts as LOADED only when the door is
confirmed closed: by the courier (`confirm`, which reads the door sensor) or by the sensor poller
(`confirm_closed`). A door whose relay is dead or that stays shut after its pulse is marked
faulted and the next fitting door is tried. Parcels of one order share a door; an order lives in
exactly one door, so a parcel that does not fit the shared door moves the whole order to a larger
one (the courier is told which door to empty).

Label format: `PCL:<order_id>:<parcel_id>`, each id 1-64 of `A-Z a-z 0-9 . _ -`.
"""

from __future__ import annotations

import logging
import sqlite3
from dataclasses import dataclass, replace

from agent.domain.clock import Clock
from agent.domain.doors import DoorSize, assign_door, next_size_up
from agent.domain.labels import ParcelLabel, parse_label
from agent.domain.orders import Order, OrderEvent, OrderState
from agent.errors import (
    AgentError,
    DoorFailed,
    NoDoorAvailable,
    NotFound,
    RequestError,
    TransitionError,
)
from agent.evidence.recorder import EvidenceRecorder, NoEvidence
from agent.reasons import Reason
from agent.services.door_opener import MAX_DOORS_TRIED, DoorOpener, door_fault, door_opened
from agent.services.expiry import start_hold
from agent.services.orders import Announcement, announce_order
from agent.store import journal, lockers
from agent.store.db import Database
from hardware.doors.port import SensorState

_LOG = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class LoadTicket:
    """What the courier is told: put parcel `parcel_id` in `door` (emptying `move_from` first)."""

    load_id: int
    order_id: str
    parcel_id: str
    door: int
    size: DoorSize
    move_from: int | None = None
    new_order: bool = False
    shared: bool = False  # the order's own door, opened again


@dataclass(frozen=True, slots=True)
class LoadConfirmation:
    load_id: int
    order_id: str
    door: int
    sensor: str  # what the door sensor said: closed, or unknown (courier's word, flagged)
    order_state: OrderState


@dataclass(frozen=True, slots=True)
class _Reserved:
    ticket: LoadTicket
    opening_id: int


@dataclass(frozen=True, slots=True)
class _Full:
    size: DoorSize


# -- transactions ----------------------------------------------------------------------------


def _order_for_label(
    conn: sqlite3.Connection, label: ParcelLabel, size: DoorSize | None, hold_s: float, now: float
) -> tuple[Order, bool]:
    order = lockers.get_order(conn, label.order_id)
    if order is not None:
        return order, False
    if size is None:
        raise RequestError("`size` is needed for an order this locker doesn't know")
    ann = Announcement(label.order_id, size, hold_s, parcels=(label.parcel_id,))
    return announce_order(conn, ann, now=now), True


def _pending_door(conn: sqlite3.Connection, order_id: str) -> int | None:
    row = conn.execute(
        "SELECT door FROM loads WHERE order_id = ? AND state = 'pending' ORDER BY id LIMIT 1",
        (order_id,),
    ).fetchone()
    return None if row is None else int(row[0])


def _check_loadable(conn: sqlite3.Connection, order: Order, label: ParcelLabel) -> None:
    if order.kind != "pickup" or order.state not in (OrderState.ANNOUNCED, OrderState.LOADED):
        raise TransitionError(order.state.value)
    live = conn.execute(
        "SELECT 1 FROM loads WHERE order_id = ? AND parcel_id = ?"
        " AND state IN ('pending', 'confirmed')",
        (order.order_id, label.parcel_id),
    ).fetchone()
    if live is not None:
        raise AgentError(label.parcel_id, reason=Reason.PARCEL_ALREADY_LOADED)


def reserve_load(
    conn: sqlite3.Connection,
    label: ParcelLabel,
    size: DoorSize | None,
    *,
    actor: str,
    hold_s: float,
    now: float,
    exclude: frozenset[int] = frozenset(),
    force_new: bool = False,
) -> _Reserved | _Full:
    """In a transaction: choose the door for one parcel and note the load as pending.

    The order's own door (loaded, or reserved by another pending load) is reused unless
    `force_new`; otherwise the best free door of the size. A full locker writes `locker.full`.
    """
    order, created = _order_for_label(conn, label, size, hold_s, now)
    _check_loadable(conn, order, label)
    own = order.door if order.state is OrderState.LOADED else _pending_door(conn, order.order_id)
    doors = {d.number: d for d in lockers.list_doors(conn)}
    if own is not None and not force_new:
        if doors[own].fault is not None or not doors[own].enabled:
            raise DoorFailed(f"door {own} is out of service")
        door, wanted = doors[own], doors[own].size
    else:
        wanted = size or DoorSize(order.size)
        free = [d for d in doors.values() if d.number not in exclude]
        chosen = assign_door(free, wanted, accessible=order.policy.accessible)
        if chosen is None:
            journal.record(
                conn,
                "locker.full",
                {"order": order.order_id, "size": wanted.value},
                now=now,
                actor=actor,
                order_id=order.order_id,
            )
            return _Full(wanted)
        door = chosen
    cur = conn.execute(
        "INSERT INTO loads (order_id, parcel_id, door, actor, state, created_at)"
        " VALUES (?, ?, ?, ?, 'pending', ?)",
        (order.order_id, label.parcel_id, door.number, actor, now),
    )
    load_id = int(cur.lastrowid or 0)
    opening = lockers.begin_opening(
        conn, door.number, order_id=order.order_id, purpose="load", now=now
    )
    journal.append_audit(
        conn,
        "load.started",
        now=now,
        actor=actor,
        order_id=order.order_id,
        door=door.number,
        detail={"load": load_id, "parcel": label.parcel_id, "size": wanted.value},
    )
    shared = own is not None and not force_new
    move_from = own if force_new and own != door.number else None
    ticket = LoadTicket(
        load_id, order.order_id, label.parcel_id, door.number, door.size, move_from, created, shared
    )
    return _Reserved(ticket, opening)


def _load_row(conn: sqlite3.Connection, load_id: int) -> sqlite3.Row:
    row: sqlite3.Row | None = conn.execute(
        "SELECT * FROM loads WHERE id = ?", (load_id,)
    ).fetchone()
    if row is None:
        raise NotFound(f"load {load_id}")
    return row


def _pending_row(conn: sqlite3.Connection, load_id: int) -> sqlite3.Row:
    row = _load_row(conn, load_id)
    if row["state"] != "pending":
        raise TransitionError(f"load is {row['state']}")
    return row


def _finish_load(
    conn: sqlite3.Connection, load_id: int, state: str, now: float, actor: str
) -> sqlite3.Row:
    row = _pending_row(conn, load_id)
    conn.execute("UPDATE loads SET state = ?, finished_at = ? WHERE id = ?", (state, now, load_id))
    journal.append_audit(
        conn,
        f"load.{state}",
        now=now,
        actor=actor,
        order_id=row["order_id"],
        door=int(row["door"]),
        detail={"load": load_id, "parcel": row["parcel_id"]},
    )
    return row


def load_failed(conn: sqlite3.Connection, reserved: _Reserved, fault: str, now: float) -> None:
    _finish_load(conn, reserved.ticket.load_id, "failed", now, "system")
    door_fault(conn, reserved.ticket.door, fault, now, opening_id=reserved.opening_id)


def mark_too_small(
    conn: sqlite3.Connection, load_id: int, now: float, actor: str
) -> tuple[ParcelLabel, DoorSize]:
    """In a transaction: free the door that was too small; the size to try next."""
    row = _pending_row(conn, load_id)
    size = conn.execute("SELECT size FROM doors WHERE number = ?", (row["door"],)).fetchone()[0]
    bigger = next_size_up(DoorSize(size))
    if bigger is None:
        raise AgentError(f"door {row['door']} is the largest size", reason=Reason.NO_LARGER_DOOR)
    _finish_load(conn, load_id, "too_small", now, actor)
    return ParcelLabel(row["order_id"], row["parcel_id"]), bigger


def confirm_load(
    conn: sqlite3.Connection, load_id: int, *, sensor: str, actor: str, now: float
) -> LoadConfirmation:
    """In a transaction: the parcel is in and the door shut. The first parcel makes the order
    LOADED (hold clock starts); a later one joins it or moves the order to this door."""
    row = _load_row(conn, load_id)
    door = int(row["door"])
    order = lockers.get_order(conn, row["order_id"])
    assert order is not None  # noqa: S101 - loads reference orders
    if row["state"] == "confirmed":
        return LoadConfirmation(load_id, order.order_id, door, row["sensor"], order.state)
    _pending_row(conn, load_id)
    parcels = tuple(dict.fromkeys((*order.parcels, row["parcel_id"])))
    body: dict[str, object] = {"order": order.order_id, "door": door, "parcel": row["parcel_id"]}
    if order.state is OrderState.ANNOUNCED:
        updated = start_hold(conn, replace(order.apply(OrderEvent.LOAD, now), door=door), now)
        kind, body["hold_s"] = "order.loaded", updated.hold.hold_s
    elif order.state is OrderState.LOADED:
        updated = replace(order, door=door)
        kind = "order.parcel_added" if order.door == door else "order.moved"
        body["from"] = order.door
    else:
        raise TransitionError(order.state.value)
    attention = "load_not_seen_by_sensor" if sensor != "closed" else updated.needs_attention
    updated = replace(updated, parcels=parcels, needs_attention=attention)
    lockers.save_order(conn, updated, now=now)
    conn.execute(
        "UPDATE loads SET state = 'confirmed', sensor = ?, finished_at = ? WHERE id = ?",
        (sensor, now, load_id),
    )
    journal.record(
        conn,
        kind,
        {**body, "sensor": sensor},
        now=now,
        actor=actor,
        order_id=order.order_id,
        door=door,
    )
    return LoadConfirmation(load_id, order.order_id, door, sensor, updated.state)


def confirm_door(conn: sqlite3.Connection, door: int, now: float) -> list[LoadConfirmation]:
    pending = conn.execute(
        "SELECT id FROM loads WHERE door = ? AND state = 'pending' ORDER BY id", (door,)
    ).fetchall()
    return [
        confirm_load(conn, int(r[0]), sensor="closed", actor="sensor", now=now) for r in pending
    ]


def load_door(conn: sqlite3.Connection, load_id: int) -> tuple[int, bool]:
    """The door of a live load, and whether it is still pending (ILLEGAL_TRANSITION if over)."""
    row = _load_row(conn, load_id)
    if row["state"] == "confirmed":
        return int(row["door"]), False
    return int(_pending_row(conn, load_id)["door"]), True


# -- service ---------------------------------------------------------------------------------


class LoadingService:
    """Courier loading at a locker with doors."""

    def __init__(
        self,
        db: Database,
        opener: DoorOpener,
        clock: Clock,
        *,
        default_hold_s: float,
        evidence: EvidenceRecorder | None = None,
    ) -> None:
        self._db = db
        self._evidence = evidence or NoEvidence()
        self._opener = opener
        self._clock = clock
        self._default_hold_s = default_hold_s

    async def start_load(self, label: str, size: DoorSize | None, *, actor: str) -> LoadTicket:
        """Reserve and open a door for the parcel labelled `label` (see the module doc)."""
        return await self._reserve_and_open(parse_label(label), size, actor=actor, force_new=False)

    async def too_small(self, load_id: int, *, actor: str) -> LoadTicket:
        """The door of `load_id` was too small: free it and open one of the next size."""
        label, bigger = await self._db.run(mark_too_small, load_id, self._clock.now(), actor)
        return await self._reserve_and_open(label, bigger, actor=actor, force_new=True)

    async def pending(self) -> list[dict[str, object]]:
        """Loads started but not confirmed (e.g. a courier whose session ended), oldest first."""
        rows = await self._db.read(
            lambda conn: conn.execute(
                "SELECT id, order_id, parcel_id, door, actor, created_at FROM loads"
                " WHERE state = 'pending' ORDER BY id"
            ).fetchall()
        )
        return [
            {
                "load": int(r[0]),
                "order": r[1],
                "parcel": r[2],
                "door": int(r[3]),
                "actor": r[4],
                "started_at": float(r[5]),
            }
            for r in rows
        ]

    async def cancel(self, load_id: int, *, actor: str) -> None:
        """The courier gives up on this parcel: the door is free again (they close it)."""
        await self._db.run(_finish_load, load_id, "cancelled", self._clock.now(), actor)

    async def confirm(self, load_id: int, *, actor: str) -> LoadConfirmation:
        """The courier says the door is shut: believed if the sensor reads CLOSED, refused if it
        reads OPEN, accepted and flagged for staff if the sensor cannot be read."""
        door, pending = await self._db.read(load_door, load_id)
        state = await self._opener.sensor(door) if pending else SensorState.CLOSED
        if state is SensorState.OPEN:
            raise AgentError(f"door {door} reads open", reason=Reason.DOOR_NOT_CLOSED)
        sensor = "closed" if state is SensorState.CLOSED else "unknown"
        return await self._db.run(
            confirm_load, load_id, sensor=sensor, actor=actor, now=self._clock.now()
        )

    async def confirm_closed(self, door: int, now: float) -> list[LoadConfirmation]:
        """For the sensor poller: `door` went from OPEN to CLOSED; confirm its pending loads."""
        return await self._db.run(confirm_door, door, now)

    async def _reserve_and_open(
        self, label: ParcelLabel, size: DoorSize | None, *, actor: str, force_new: bool
    ) -> LoadTicket:
        tried: frozenset[int] = frozenset()
        for _ in range(MAX_DOORS_TRIED):
            reserved = await self._db.run(
                reserve_load,
                label,
                size,
                actor=actor,
                hold_s=self._default_hold_s,
                now=self._clock.now(),
                exclude=tried,
                force_new=force_new,
            )
            if isinstance(reserved, _Full):
                raise NoDoorAvailable(reserved.size.value)
            ticket = reserved.ticket
            fault = await self._opener.open(ticket.door)
            if fault is None:
                await self._db.run(door_opened, reserved.opening_id, ticket.door, self._clock.now())
                _LOG.info("load %s: door %s open", ticket.load_id, ticket.door)
                await self._evidence.door_opened(
                    "courier_load",
                    door=ticket.door,
                    order_ref=ticket.order_id,
                    empty=not ticket.shared,
                )
                return ticket
            await self._db.run(load_failed, reserved, fault, self._clock.now())
            if ticket.shared:
                raise DoorFailed(fault)
            tried |= {ticket.door}
        raise DoorFailed(f"{MAX_DOORS_TRIED} doors failed to open")
