"""Opening a door for an operation (loading, returns, collection) and what a failure means.

`DoorOpener` pulses a latch and checks through the sensor that the door actually opened; a door
that did not is faulted in the same transaction that records the failure, and the hold clocks of
the parcels inside stop (a broken door never uses up a customer's pickup time).
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
from collections.abc import Awaitable, Callable
from typing import TypeVar

from agent.domain.doors import OpeningResult
from agent.errors import DoorFailed
from agent.services.expiry import pause_door_holds
from agent.store import journal
from agent.store.doors import finish_opening, get_door, save_door
from hardware.doors.port import DoorController, DoorSensors, SensorState
from hardware.errors import HardwareError

_LOG = logging.getLogger(__name__)
_SENSOR_STEP_S = 0.05
MAX_DOORS_TRIED = 3
R = TypeVar("R")


class DoorOpener:
    """Pulses a latch and checks, through the sensor, that the door actually opened."""

    def __init__(self, doors: DoorController, sensors: DoorSensors, *, check_s: float) -> None:
        self._doors = doors
        self._sensors = sensors
        self._check_s = check_s

    async def open(self, door: int) -> str | None:
        """None if the door opened (or its sensor cannot tell), else `relay_failed` or `jammed`."""
        try:
            await self._doors.open(door)
        except HardwareError as err:
            _LOG.warning("door %s did not take its pulse: %s", door, err)
            return "relay_failed"
        steps = round(self._check_s / _SENSOR_STEP_S)
        for step in range(steps):
            try:
                state = await self._sensors.read(door)
            except HardwareError:
                return None  # a dead sensor cannot tell; the person at the door can
            if state is not SensorState.CLOSED:
                return None
            if step + 1 < steps:
                await asyncio.sleep(_SENSOR_STEP_S)
        if steps:
            _LOG.warning("door %s stayed shut after its pulse: jammed", door)
            return "jammed"
        return None

    async def sensor(self, door: int) -> SensorState:
        try:
            return await self._sensors.read(door)
        except HardwareError:
            return SensorState.UNKNOWN


async def open_one_of_doors(
    opener: DoorOpener,
    reserve: Callable[[frozenset[int]], Awaitable[R]],
    door_of: Callable[[R], int],
    failed: Callable[[R, str], Awaitable[None]],
    *,
    only_this_door: Callable[[R], bool] = lambda _: False,
) -> R:
    """Reserve a door, pulse it, and on a failure try another: at most `MAX_DOORS_TRIED` doors.

    `reserve(tried)` reserves a door not in `tried` in one transaction (and raises when none is
    left); `failed(reserved, fault)` frees it and faults the door in one transaction. What is
    returned is the reservation whose door opened; the caller records the opening. A
    reservation for which `only_this_door` holds (an order's own door) is not replaced by
    another: its failure raises `DoorFailed(fault)` at once."""
    tried: frozenset[int] = frozenset()
    for _ in range(MAX_DOORS_TRIED):
        reserved = await reserve(tried)
        door = door_of(reserved)
        fault = await opener.open(door)
        if fault is None:
            return reserved
        await failed(reserved, fault)
        if only_this_door(reserved):
            raise DoorFailed(fault)
        tried |= {door}
    raise DoorFailed(f"{MAX_DOORS_TRIED} doors failed to open")


def door_fault(
    conn: sqlite3.Connection, door: int, fault: str, now: float, *, opening_id: int | None
) -> None:
    """In a transaction: a door failed to open. It leaves service (staff clear the fault) and
    the hold clocks of parcels inside stop."""
    if opening_id is not None:
        finish_opening(conn, opening_id, OpeningResult.FAILED, now)
    known = get_door(conn, door)
    if known is not None:
        save_door(conn, known.faulted(fault, now))
    pause_door_holds(conn, door, now)
    journal.record(conn, "door.open_failed", {"door": door, "fault": fault}, now=now, door=door)


def door_opened(conn: sqlite3.Connection, opening_id: int, door: int, now: float) -> None:
    finish_opening(conn, opening_id, OpeningResult.OPENED, now)
    journal.append_audit(conn, "door.opened", now=now, door=door)
