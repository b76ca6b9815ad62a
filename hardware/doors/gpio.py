"""Latch relays and door sensors on GPIO lines, through the libgpiod v2 Python bindings.

One line request holds every latch output and every sensor input of the bank, so no other
process can drive a latch while the agent runs. Outputs are requested inactive, which is the
"all relays off at start" of the contract from the very first instant the lines are ours.

Reading or setting a requested line is one ioctl on the chip's file descriptor (microseconds,
never waits on a device), so those calls run on the event loop; opening the chip and requesting
lines touch the kernel driver and run in a worker thread.

`line_requester` is the seam for tests: it defaults to `gpiod.request_lines` and a test passes a
fake chip with the same call signature and the subset of `gpiod.LineRequest` used here.
"""

from __future__ import annotations

import asyncio
import importlib
import logging
from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Annotated, Any, Literal, Protocol

from pydantic import Field, ValidationInfo, field_validator

from hardware.doors.port import DoorController, DoorSensors, SensorState
from hardware.doors.settings import DriverSettings, PulseMs, checked_door_count, require_library
from hardware.errors import DoorError, DriverConfigError, SensorError, UnknownDoorError

if TYPE_CHECKING:
    from gpiod.line import Value

_LOG = logging.getLogger(__name__)


Line = Annotated[int, Field(ge=0)]


class GpioDoorSettings(DriverSettings):
    """Latch relays and door sensors on GPIO lines of one gpiochip (libgpiod v2).

    Door n uses `latch_lines[n-1]` and `sensor_lines[n-1]`; the door count is their length.
    """

    type: Literal["gpio"] = Field("gpio", description="Driver type.")
    chip: str = Field(
        "/dev/gpiochip0", min_length=1, description="Path of the GPIO character device."
    )
    latch_lines: tuple[Line, ...] = Field(
        min_length=1, description="Latch output line per door, door 1 first."
    )
    sensor_lines: tuple[Line, ...] = Field(description="Sensor input line per door, door 1 first.")
    latch_active_low: bool = Field(False, description="Relay switches on when driven low.")
    sensor_active_low: bool = Field(True, description="Sensor pulls low while the door is closed.")
    sensor_pull_up: bool = Field(True, description="Internal pull-up on sensor lines.")
    pulse_ms: PulseMs = Field(500, description="Latch pulse in ms (10..5000).")
    consumer: str = Field(
        "locker-agent", min_length=1, description="Consumer name `gpioinfo` shows for the lines."
    )

    @field_validator("latch_lines")
    @classmethod
    def _distinct_latches(cls, lines: tuple[int, ...]) -> tuple[int, ...]:
        _refuse_twice(lines)
        return lines

    @field_validator("sensor_lines")
    @classmethod
    def _one_sensor_per_latch(cls, lines: tuple[int, ...], info: ValidationInfo) -> tuple[int, ...]:
        latches: tuple[int, ...] = info.data.get("latch_lines", ())
        if latches and len(lines) != len(latches):
            raise ValueError(f"needs one line per door ({len(latches)}), got {len(lines)}")
        _refuse_twice((*latches, *lines))
        return lines

    @property
    def door_count(self) -> int:
        return len(self.latch_lines)

    def check_doors(self, door_count: int) -> None:
        if door_count != self.door_count:
            raise ValueError(
                f"doors.driver: drives {self.door_count} doors, the groups have {door_count}"
            )

    def build(self, door_count: int) -> tuple[DoorController, DoorSensors]:
        require_library("gpiod", "gpio")
        checked_door_count(self, door_count)
        bank = GpioDoorBank(self)
        return bank, bank


def _refuse_twice(lines: tuple[int, ...]) -> None:
    twice = sorted({line for line in lines if lines.count(line) > 1})
    if twice:
        raise ValueError(f"a line is used twice: {', '.join(map(str, twice))}")


class LineRequest(Protocol):
    """The part of `gpiod.LineRequest` this driver uses."""

    def get_value(self, line: int) -> Value: ...

    def get_values(self, lines: Iterable[int]) -> list[Value]: ...

    def set_value(self, line: int, value: Value) -> None: ...

    def set_values(self, values: dict[int | str, Value]) -> None: ...

    def release(self) -> None: ...


# Same call as `gpiod.request_lines(path, config=..., consumer=...)`.
LineRequester = Callable[..., LineRequest]


class GpioDoorBank(DoorController, DoorSensors):
    """Latches and sensors on the lines of one gpiochip (see `DoorController`)."""

    def __init__(
        self, settings: GpioDoorSettings, *, line_requester: LineRequester | None = None
    ) -> None:
        self._settings = settings
        self._latches = dict(enumerate(settings.latch_lines, start=1))
        self._sensors = dict(enumerate(settings.sensor_lines, start=1))
        self._pulse_s = settings.pulse_ms / 1000
        self._line_requester = line_requester
        self._door_locks = {door: asyncio.Lock() for door in self._latches}
        self._request: LineRequest | None = None
        self._errors: tuple[type[BaseException], ...] = (OSError, ValueError)

    @property
    def door_count(self) -> int:
        return len(self._latches)

    @property
    def consumer(self) -> str:
        """The consumer name the lines are requested under (what `gpioinfo` shows)."""
        return self._settings.consumer

    # -- DoorController ------------------------------------------------------------------------
    async def start(self) -> None:
        """Request the lines (outputs inactive); `DriverConfigError` if the chip refuses."""
        # Imported in a worker thread: a first import is slow enough to stall the event loop.
        gpiod = await asyncio.to_thread(importlib.import_module, "gpiod")

        self._errors = (OSError, ValueError, gpiod.RequestReleasedError, gpiod.ChipClosedError)
        requester: LineRequester = self._line_requester or gpiod.request_lines
        config = self._line_config()
        try:
            if self._request is None:  # a second start() only switches the latches off again
                self._request = await asyncio.to_thread(
                    requester, self._settings.chip, config=config, consumer=self._settings.consumer
                )
            self._request.set_values(self._all_latches(active=False))
        except self._errors as err:
            await self.stop()
            raise DriverConfigError(
                f"gpio {self._settings.chip}: cannot request lines: {err}"
            ) from err
        _LOG.info("gpio %s: %d doors, all latches off", self._settings.chip, self.door_count)

    async def open(self, door: int) -> None:
        line = self._latches.get(door)
        if line is None:
            raise UnknownDoorError(door, "no such door")
        async with self._door_locks[door]:
            try:
                self._set_latch(line, active=True)
                await asyncio.sleep(self._pulse_s)
            except self._errors as err:
                raise DoorError(door, f"latch line {line} failed: {err}") from err
            finally:
                # Also after a failed "on": the ioctl may have switched the line before failing.
                released = self._release(door, line)
            if not released:
                raise DoorError(door, f"latch line {line} did not switch off")

    async def stop(self) -> None:
        request, self._request = self._request, None
        if request is None:
            return
        try:
            request.set_values(self._all_latches(active=False))
        except Exception as err:  # stop() never raises, by contract
            _LOG.warning("gpio %s: could not switch latches off: %s", self._settings.chip, err)
        try:
            request.release()
        except Exception as err:  # stop() never raises, by contract
            _LOG.warning("gpio %s: release failed: %s", self._settings.chip, err)

    # -- DoorSensors ---------------------------------------------------------------------------
    async def read(self, door: int) -> SensorState:
        line = self._sensors.get(door)
        if line is None:
            raise UnknownDoorError(door, "no such door")
        try:
            value = self._requested().get_value(line)
        except self._errors as err:
            raise SensorError(door, f"sensor line {line}: {err}") from err
        return self._state(value)

    async def read_all(self) -> Mapping[int, SensorState]:
        try:
            values = self._requested().get_values(list(self._sensors.values()))
        except self._errors as err:
            _LOG.warning("gpio %s: reading all sensors failed: %s", self._settings.chip, err)
            return {door: await self._read_or_unknown(door) for door in self._sensors}
        return {door: self._state(value) for door, value in zip(self._sensors, values, strict=True)}

    # -- internals -----------------------------------------------------------------------------
    def _line_config(self) -> dict[tuple[int, ...], Any]:
        from gpiod import LineSettings
        from gpiod.line import Bias, Direction, Value

        settings = self._settings
        latch = LineSettings(
            direction=Direction.OUTPUT,
            active_low=settings.latch_active_low,
            output_value=Value.INACTIVE,
        )
        sensor = LineSettings(
            direction=Direction.INPUT,
            active_low=settings.sensor_active_low,
            bias=Bias.PULL_UP if settings.sensor_pull_up else Bias.AS_IS,
        )
        return {tuple(settings.latch_lines): latch, tuple(settings.sensor_lines): sensor}

    def _requested(self) -> LineRequest:
        if self._request is None:
            raise OSError("lines not requested (driver not started)")
        return self._request

    def _set_latch(self, line: int, *, active: bool) -> None:
        self._requested().set_value(line, self._value(active=active))

    def _all_latches(self, *, active: bool) -> dict[int | str, Value]:
        value = self._value(active=active)
        return dict.fromkeys(self._latches.values(), value)

    def _release(self, door: int, line: int) -> bool:
        try:
            self._set_latch(line, active=False)
        except self._errors as err:
            _LOG.error("gpio: door %d latch line %d may still be on: %s", door, line, err)
            return False
        return True

    async def _read_or_unknown(self, door: int) -> SensorState:
        try:
            return await self.read(door)
        except SensorError as err:
            _LOG.warning("gpio %s: %s", self._settings.chip, err)
            return SensorState.UNKNOWN

    @staticmethod
    def _value(*, active: bool) -> Value:
        from gpiod.line import Value

        return Value.ACTIVE if active else Value.INACTIVE

    @staticmethod
    def _state(value: Value) -> SensorState:
        # The line is configured so that "active" means the door-closed contact is made.
        from gpiod.line import Value

        return SensorState.CLOSED if value == Value.ACTIVE else SensorState.OPEN
