"""Opening a door for an operation (loading, returns, collection), and trying another.

`DoorOpener` pulses a latch and checks through the sensor that the door actually opened; a door
that did not is faulted in the same transaction that records the failure
(`agent.store.openings.door_fault`), and the hold clocks of the parcels inside stop.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import TypeVar

from agent.errors import DoorFailed
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
        """What the door's sensor says now; UNKNOWN when the sensor cannot be read."""
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
