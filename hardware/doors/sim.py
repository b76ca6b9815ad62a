"""A simulated locker bank: door controller and sensors in one object, with injectable faults.

Shipped in the package so that `make demo` and the tests run the same code. A simulated door
behaves like a spring-loaded door: a latch pulse makes it pop open (its sensor turns OPEN) unless
it is jammed; it stays open until somebody closes it (`close_door`), and can be forced
(`force_open`) to test supervision. With `auto_close_s` a door opened by a latch pulse closes by
itself that long after (the demo: a pickup ends with "closed, thank you" and a courier can confirm
a load without a person at the simulated bank); a forced door stays open.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

from pydantic import AliasChoices, Field

from hardware.doors.port import DoorController, DoorSensors, SensorState
from hardware.doors.settings import PULSE_MS_MAX, DriverSettings, checked_door_count
from hardware.errors import DoorError, SensorError, UnknownDoorError


@dataclass(slots=True)
class SimulatedFaults:
    """Faults of one simulated door. Change them at any time, also mid-flow."""

    jammed: bool = False  # latch pulses, door does not move (sensor stays CLOSED)
    relay_dead: bool = False  # the pulse cannot be delivered: open() raises
    sensor_dead: bool = False  # the sensor reads UNKNOWN / raises
    relay_delay_s: float = 0.0  # slow relay: the pulse takes this long


@dataclass(slots=True)
class _SimDoor:
    open: bool = False
    moves: int = 0  # counts openings and closings: a late auto-close never shuts a newer opening
    faults: SimulatedFaults = field(default_factory=SimulatedFaults)


class SimulatedLocker(DoorController, DoorSensors):
    """A bank of `door_count` simulated doors, all closed and locked at start."""

    def __init__(
        self, door_count: int, *, relay_pulse_s: float = 0.0, auto_close_s: float | None = None
    ) -> None:
        if door_count < 1:
            raise ValueError("a locker has at least one door")
        if auto_close_s is not None and auto_close_s <= 0:
            raise ValueError("auto_close_s is a positive number of seconds (or None: never)")
        self._doors = {n: _SimDoor() for n in range(1, door_count + 1)}
        self._relay_pulse_s = relay_pulse_s
        self._auto_close_s = auto_close_s
        self.relays_on: set[int] = set()
        self.pulses: list[int] = []  # every latch pulse delivered, in order (for tests and demo)
        self.started = False

    # -- DoorController ------------------------------------------------------------------------
    @property
    def door_count(self) -> int:
        return len(self._doors)

    async def start(self) -> None:
        self.relays_on.clear()
        self.started = True

    async def open(self, door: int) -> None:
        sim = self._door(door)
        faults = sim.faults
        if faults.relay_delay_s:
            await asyncio.sleep(faults.relay_delay_s)
        if faults.relay_dead:
            raise DoorError(door, "relay did not respond")
        self.relays_on.add(door)
        try:
            if self._relay_pulse_s:
                await asyncio.sleep(self._relay_pulse_s)
            self.pulses.append(door)
            if not faults.jammed:
                sim.open = True
                sim.moves += 1
                if self._auto_close_s is not None:
                    asyncio.get_running_loop().call_later(
                        self._auto_close_s, self._auto_close, door, sim.moves
                    )
        finally:
            self.relays_on.discard(door)

    async def stop(self) -> None:
        self.relays_on.clear()
        self.started = False

    # -- DoorSensors ---------------------------------------------------------------------------
    async def read(self, door: int) -> SensorState:
        sim = self._door(door)
        if sim.faults.sensor_dead:
            raise SensorError(door, "no signal")
        return SensorState.OPEN if sim.open else SensorState.CLOSED

    async def read_all(self) -> Mapping[int, SensorState]:
        return {n: self._state(d) for n, d in self._doors.items()}

    # -- what a person (or a test) does to the simulated bank -----------------------------------
    def close_door(self, door: int) -> None:
        """Somebody pushes the door shut."""
        sim = self._door(door)
        sim.open = False
        sim.moves += 1

    def _auto_close(self, door: int, moves: int) -> None:
        sim = self._door(door)
        if sim.moves == moves:
            sim.open = False

    def force_open(self, door: int) -> None:
        """The door is pried open without a latch pulse."""
        sim = self._door(door)
        sim.open = True
        sim.moves += 1

    def faults(self, door: int) -> SimulatedFaults:
        """The live fault settings of `door`, to change them."""
        return self._door(door).faults

    def is_open(self, door: int) -> bool:
        return self._door(door).open

    def _door(self, door: int) -> _SimDoor:
        try:
            return self._doors[door]
        except KeyError:
            raise UnknownDoorError(door, "no such door") from None

    @staticmethod
    def _state(sim: _SimDoor) -> SensorState:
        if sim.faults.sensor_dead:
            return SensorState.UNKNOWN
        return SensorState.OPEN if sim.open else SensorState.CLOSED


class SimulatorDoorSettings(DriverSettings):
    """The built-in simulated locker bank (demo, tests, a kiosk without hardware)."""

    type: Literal["simulator"] = Field("simulator", description="Driver type.")
    pulse_ms: int = Field(
        0,
        ge=0,
        le=PULSE_MS_MAX,
        validation_alias=AliasChoices("pulse_ms", "relay_pulse_ms"),
        description="Simulated latch pulse in ms (0: instantaneous; also read as relay_pulse_ms).",
    )

    def check_doors(self, door_count: int) -> None:
        if door_count < 1:
            raise ValueError("doors: a locker has at least one door")

    def build(self, door_count: int) -> tuple[DoorController, DoorSensors]:
        locker = SimulatedLocker(
            checked_door_count(self, door_count), relay_pulse_s=self.pulse_ms / 1000
        )
        return locker, locker
