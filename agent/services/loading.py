"""Courier loading: scan a parcel label, get a door, put the parcel in, close the door.

A load is two steps. `start_load` reserves a door in one transaction (a `pending` row in `loads`
occupies the door), then pulses the latch. The parcel counts as LOADED only when the door is
confirmed closed: by the courier (`confirm`, which reads the door sensor) or by the sensor poller
(`confirm_closed`). A door whose relay is dead or that stays shut after its pulse is marked
faulted and the next fitting door is tried. Parcels of one order share a door; an order lives in
exactly one door, so a parcel that does not fit the shared door moves the whole order to a larger
one (the courier is told which door to empty).

Label format: see `agent.domain.labels`.
"""

from __future__ import annotations

import logging
import sqlite3
from dataclasses import dataclass, replace

from agent.domain.clock import Clock
from agent.domain.doors import DoorSize, assign_door, next_size_up
from agent.domain.labels import ParcelLabel, parse_label
from agent.domain.loads import Load, LoadEvent, LoadState, SensorWord, require_pending
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
from agent.services.door_opener import DoorOpener, open_one_of_doors
from agent.services.orders import Announcement, announce_order
from agent.store import journal, loads
from agent.store.db import Database
from agent.store.doors import begin_opening, get_door, list_doors
from agent.store.holds import start_hold
from agent.store.openings import door_fault, door_opened
from agent.store.orders import get_order, save_order
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
    """A load the door sensor (or the courier) confirmed: the parcel is in its door."""

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
    order = get_order(conn, label.order_id)
    if order is not None:
        return order, False
    if size is None:
        raise RequestError("`size` is needed for an order this locker doesn't know")
    ann = Announcement(label.order_id, size, hold_s, parcels=(label.parcel_id,))
    return announce_order(conn, ann, now=now), True


def _check_loadable(conn: sqlite3.Connection, order: Order, label: ParcelLabel) -> None:
    if order.kind != "pickup" or order.state not in (OrderState.ANNOUNCED, OrderState.LOADED):
        raise TransitionError(order.state.value)
    if loads.parcel_is_live(conn, order.order_id, label.parcel_id):
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
    own = (
        order.door
        if order.state is OrderState.LOADED
        else loads.pending_door_of_order(conn, order.order_id)
    )
    doors = {d.number: d for d in list_doors(conn)}
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
    load_id = loads.add_pending(
        conn, order.order_id, label.parcel_id, door.number, actor=actor, now=now
    )
    opening = begin_opening(conn, door.number, order_id=order.order_id, purpose="load", now=now)
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


def _load(conn: sqlite3.Connection, load_id: int) -> Load:
    load = loads.get(conn, load_id)
    if load is None:
        raise NotFound(f"load {load_id}")
    return load


def _pending(conn: sqlite3.Connection, load_id: int) -> Load:
    load = _load(conn, load_id)
    require_pending(load.state)
    return load


def _finish_load(
    conn: sqlite3.Connection, load_id: int, event: LoadEvent, now: float, actor: str
) -> Load:
    finished = _pending(conn, load_id).apply(event, now)
    loads.save(conn, finished)
    journal.append_audit(
        conn,
        f"load.{finished.state.value}",
        now=now,
        actor=actor,
        order_id=finished.order_id,
        door=finished.door,
        detail={"load": load_id, "parcel": finished.parcel_id},
    )
    return finished


def load_failed(conn: sqlite3.Connection, reserved: _Reserved, fault: str, now: float) -> None:
    """A reserved load whose door did not open: the load fails and the door is faulted."""
    _finish_load(conn, reserved.ticket.load_id, LoadEvent.FAIL, now, "system")
    door_fault(conn, reserved.ticket.door, fault, now, opening_id=reserved.opening_id)


def mark_too_small(
    conn: sqlite3.Connection, load_id: int, now: float, actor: str
) -> tuple[ParcelLabel, DoorSize]:
    """In a transaction: free the door that was too small; the size to try next."""
    load = _pending(conn, load_id)
    door = get_door(conn, load.door)
    assert door is not None  # noqa: S101 - loads reference doors
    bigger = next_size_up(door.size)
    if bigger is None:
        raise AgentError(f"door {load.door} is the largest size", reason=Reason.NO_LARGER_DOOR)
    _finish_load(conn, load_id, LoadEvent.TOO_SMALL, now, actor)
    return ParcelLabel(load.order_id, load.parcel_id), bigger


def confirm_load(
    conn: sqlite3.Connection, load_id: int, *, sensor: str, actor: str, now: float
) -> LoadConfirmation:
    """In a transaction: the parcel is in and the door shut. The first parcel makes the order
    LOADED (hold clock starts); a later one joins it or moves the order to this door."""
    load = _load(conn, load_id)
    door = load.door
    order = get_order(conn, load.order_id)
    assert order is not None  # noqa: S101 - loads reference orders
    if load.state is LoadState.CONFIRMED:
        return LoadConfirmation(load_id, order.order_id, door, str(load.sensor), order.state)
    require_pending(load.state)
    parcels = tuple(dict.fromkeys((*order.parcels, load.parcel_id)))
    body: dict[str, object] = {"order": order.order_id, "door": door, "parcel": load.parcel_id}
    if order.state is OrderState.ANNOUNCED:
        updated = start_hold(conn, replace(order.apply(OrderEvent.LOAD, now), door=door), now)
        kind, body["hold_s"] = "order.loaded", updated.hold.hold_s
    elif order.state is OrderState.LOADED:
        updated = replace(order, door=door)
        kind = "order.parcel_added" if order.door == door else "order.moved"
        body["from"] = order.door
    else:
        raise TransitionError(order.state.value)
    attention = (
        "load_not_seen_by_sensor" if sensor != SensorWord.CLOSED else updated.needs_attention
    )
    updated = replace(updated, parcels=parcels, needs_attention=attention)
    save_order(conn, updated, now=now)
    loads.save(conn, load.apply(LoadEvent.CONFIRM, now, sensor=sensor))
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
    """Confirms every pending load in `door` now that its sensor says closed."""
    return [
        confirm_load(conn, load.load_id, sensor=SensorWord.CLOSED, actor="sensor", now=now)
        for load in loads.pending_on_door(conn, door)
    ]


def load_door(conn: sqlite3.Connection, load_id: int) -> tuple[int, bool]:
    """The door of a live load, and whether it is still pending (ILLEGAL_TRANSITION if over)."""
    load = _load(conn, load_id)
    if load.state is LoadState.CONFIRMED:
        return load.door, False
    require_pending(load.state)
    return load.door, True


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
        pending = await self._db.read(loads.all_pending)
        return [
            {
                "load": load.load_id,
                "order": load.order_id,
                "parcel": load.parcel_id,
                "door": load.door,
                "actor": load.actor,
                "started_at": load.created_at,
            }
            for load in pending
        ]

    async def cancel(self, load_id: int, *, actor: str) -> None:
        """The courier gives up on this parcel: the door is free again (they close it)."""
        await self._db.run(_finish_load, load_id, LoadEvent.CANCEL, self._clock.now(), actor)

    async def confirm(self, load_id: int, *, actor: str) -> LoadConfirmation:
        """The courier says the door is shut: believed if the sensor reads CLOSED, refused if it
        reads OPEN, accepted and flagged for staff if the sensor cannot be read."""
        door, pending = await self._db.read(load_door, load_id)
        state = await self._opener.sensor(door) if pending else SensorState.CLOSED
        if state is SensorState.OPEN:
            raise AgentError(f"door {door} reads open", reason=Reason.DOOR_NOT_CLOSED)
        sensor = SensorWord.CLOSED if state is SensorState.CLOSED else SensorWord.UNKNOWN
        return await self._db.run(
            confirm_load, load_id, sensor=sensor, actor=actor, now=self._clock.now()
        )

    async def confirm_closed(self, door: int, now: float) -> list[LoadConfirmation]:
        """For the sensor poller: `door` went from OPEN to CLOSED; confirm its pending loads."""
        return await self._db.run(confirm_door, door, now)

    async def _reserve_and_open(
        self, label: ParcelLabel, size: DoorSize | None, *, actor: str, force_new: bool
    ) -> LoadTicket:
        async def reserve(tried: frozenset[int]) -> _Reserved:
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
            return reserved

        async def failed(reserved: _Reserved, fault: str) -> None:
            await self._db.run(load_failed, reserved, fault, self._clock.now())

        reserved = await open_one_of_doors(
            self._opener,
            reserve,
            lambda reserved: reserved.ticket.door,
            failed,
            only_this_door=lambda reserved: reserved.ticket.shared,
        )
        ticket = reserved.ticket
        await self._db.run(door_opened, reserved.opening_id, ticket.door, self._clock.now())
        _LOG.info("load %s: door %s open", ticket.load_id, ticket.door)
        await self._evidence.door_opened(
            "courier_load",
            door=ticket.door,
            order_ref=ticket.order_id,
            empty=not ticket.shared,
        )
        return ticket
