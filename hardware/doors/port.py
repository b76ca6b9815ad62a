"""The door port: latches (the controller) and door sensors, and the values they exchange.

Doors are numbered 1..N in the order the locker bank is wired. A controller releases a latch for a
short pulse; whether the door actually swung open is told by its sensor, never assumed.
"""

from __future__ import annotations

import abc
from collections.abc import Mapping
from enum import StrEnum


class SensorState(StrEnum):
    """What a door sensor reports."""

    CLOSED = "closed"
    OPEN = "open"
    UNKNOWN = "unknown"  # sensor dead or not readable


class DoorController(abc.ABC):
    """Releases door latches.

    Contract for every implementation:
    - `start()` switches every relay off (all latches locked) before anything else happens.
    - `open(door)` pulses the latch of `door` and returns once the pulse has been delivered. It does
      not wait for the door to swing open (that is the sensor's job). If the pulse cannot be
      delivered it raises `DoorError` and leaves the latch locked; it never leaves a relay on.
    - `open` on an unknown door raises `UnknownDoorError` and touches no relay.
    - Calls for different doors may overlap; an implementation serialises bus access itself.
    - `stop()` switches every relay off and releases the bus; it never raises.
    """

    @property
    @abc.abstractmethod
    def door_count(self) -> int:
        """How many doors this controller drives (numbered 1..door_count)."""

    @abc.abstractmethod
    async def start(self) -> None:
        """Connect to the hardware and switch all relays off."""

    @abc.abstractmethod
    async def open(self, door: int) -> None:
        """Pulse the latch of `door`; raise `DoorError` (latch left locked) if that failed."""

    @abc.abstractmethod
    async def stop(self) -> None:
        """Switch all relays off and disconnect. Never raises."""


class DoorSensors(abc.ABC):
    """Reads door-closed sensors.

    Contract:
    - `read_all()` returns a reading for every door 1..N; a door whose sensor cannot be read is
      reported as `SensorState.UNKNOWN` rather than failing the whole read.
    - `read(door)` raises `SensorError` if that one sensor cannot be read, `UnknownDoorError` for a
      door that does not exist.
    - Reads have no side effects and may be called as often as every 100 ms (supervision polls).
    """

    @abc.abstractmethod
    async def read(self, door: int) -> SensorState:
        """The current state of one door's sensor."""

    @abc.abstractmethod
    async def read_all(self) -> Mapping[int, SensorState]:
        """The current state of every door, keyed by door number."""
