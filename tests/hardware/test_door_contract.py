"""The door port contract (`hardware/doors/port.py`), checked the same way against every driver.

Rigs: the simulator; the Modbus TCP driver against pymodbus' server on a free loopback port; the
Modbus RTU driver against pymodbus' serial server across a pseudo-terminal pair; the GPIO driver
on a fake gpiochip. Each rig reports what the hardware saw (relay levels, pulses), and makes a
door pop open when its latch is pulsed, like a spring-loaded door.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib.util
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, Protocol

import pytest

from hardware.doors.gpio import GpioDoorBank, GpioDoorSettings
from hardware.doors.modbus import ModbusDoorBank, ModbusRtuDoorSettings, ModbusTcpDoorSettings
from hardware.doors.port import DoorController, DoorSensors, SensorState
from hardware.doors.sim import SimulatedLocker
from hardware.errors import DoorError, SensorError, UnknownDoorError
from tests.hardware.conftest import FakeGpioChip, ModbusBoard, free_tcp_port, serial_line

DOORS = 4
PULSE_MS = 80


class DoorRig(Protocol):
    controller: DoorController
    sensors: DoorSensors

    async def energise_all(self) -> None:
        """Before start: every relay is on, as after a crash mid-pulse."""

    async def relays_on(self) -> set[int]:
        """Doors whose latch relay is energised right now."""

    def pulsed(self) -> list[int]:
        """Doors whose relay was switched on since start, in order."""

    async def set_door(self, door: int, *, is_open: bool) -> None: ...

    def break_sensor(self, door: int) -> None: ...

    def break_pulse(self, door: int) -> None:
        """The next pulse of `door` fails on the way (after the relay may have switched)."""

    async def lose_hardware(self) -> None:
        """The board or chip goes away entirely."""


class SimRig:
    def __init__(self) -> None:
        self.locker = SimulatedLocker(DOORS, relay_pulse_s=PULSE_MS / 1000)
        self.controller: DoorController = self.locker
        self.sensors: DoorSensors = self.locker

    async def energise_all(self) -> None:
        self.locker.relays_on.update(range(1, DOORS + 1))

    async def relays_on(self) -> set[int]:
        return set(self.locker.relays_on)

    def pulsed(self) -> list[int]:
        return list(self.locker.pulses)

    async def set_door(self, door: int, *, is_open: bool) -> None:
        if is_open:
            self.locker.force_open(door)
        else:
            self.locker.close_door(door)

    def break_sensor(self, door: int) -> None:
        self.locker.faults(door).sensor_dead = True

    def break_pulse(self, door: int) -> None:
        self.locker.faults(door).relay_dead = True

    async def lose_hardware(self) -> None:
        for door in range(1, DOORS + 1):
            self.locker.faults(door).relay_dead = True
            self.locker.faults(door).sensor_dead = True


class ModbusRig:
    """Door n: coil COIL_BASE+n-1, input INPUT_BASE+n-1; an input reads ON while closed."""

    COIL_BASE = 4
    INPUT_BASE = 16

    def __init__(self, board: ModbusBoard, bank: ModbusDoorBank) -> None:
        self.board = board
        self.controller: DoorController = bank
        self.sensors: DoorSensors = bank
        board.on_coil_on = self._pop_open

    async def _pop_open(self, _unit: int, coil: int) -> None:
        door = coil - self.COIL_BASE + 1
        if 1 <= door <= DOORS:
            await self.set_door(door, is_open=True)

    async def close_all(self) -> None:
        for door in range(1, DOORS + 1):
            await self.set_door(door, is_open=False)

    async def energise_all(self) -> None:
        hook, self.board.on_coil_on = self.board.on_coil_on, None
        for door in range(1, DOORS + 1):
            await self.board.set_coil(self.COIL_BASE + door - 1, True)
        self.board.on_coil_on = hook
        self.board.writes.clear()

    async def relays_on(self) -> set[int]:
        coils = await self.board.coils()
        return {door for door in range(1, DOORS + 1) if coils[self.COIL_BASE + door - 1]}

    def pulsed(self) -> list[int]:
        return [coil - self.COIL_BASE + 1 for _, coil, on in self.board.writes if on]

    async def set_door(self, door: int, *, is_open: bool) -> None:
        await self.board.set_input(self.INPUT_BASE + door - 1, not is_open)

    def break_sensor(self, door: int) -> None:
        self.board.broken_inputs.add(self.INPUT_BASE + door - 1)

    def break_pulse(self, door: int) -> None:
        self.board.lost_on_answers.add(self.COIL_BASE + door - 1)

    async def lose_hardware(self) -> None:
        await self.board.stop()


class GpioRig:
    """Active-low latch relays on scattered lines; sensors are contacts to ground (pull-up)."""

    LATCHES = (3, 5, 8, 2)
    SENSORS = (20, 21, 22, 23)

    def __init__(self, chip: FakeGpioChip) -> None:
        self.chip = chip
        settings = GpioDoorSettings(
            chip=chip.path,
            latch_lines=self.LATCHES,
            sensor_lines=self.SENSORS,
            latch_active_low=True,
            pulse_ms=PULSE_MS,
        )
        bank = GpioDoorBank(settings, line_requester=chip.request_lines)
        self.controller: DoorController = bank
        self.sensors: DoorSensors = bank
        chip.on_output = self._pop_open
        for door in range(1, DOORS + 1):
            chip.external[self.SENSORS[door - 1]] = False  # closed: contact pulls it low

    def _pop_open(self, line: int, high: bool) -> None:
        if line in self.LATCHES and not high:  # active low: a low latch line is "relay on"
            self.chip.external[self.SENSORS[self.LATCHES.index(line)]] = None

    async def energise_all(self) -> None:
        for line in self.LATCHES:
            self.chip.levels[line] = False

    async def relays_on(self) -> set[int]:
        return {n for n, line in enumerate(self.LATCHES, start=1) if not self.chip.levels[line]}

    def pulsed(self) -> list[int]:
        return [
            self.LATCHES.index(line) + 1
            for line, high in self.chip.history
            if line in self.LATCHES and not high
        ]

    async def set_door(self, door: int, *, is_open: bool) -> None:
        # An open door's contact is open: the line floats and the pull-up makes it high.
        self.chip.external[self.SENSORS[door - 1]] = None if is_open else False

    def break_sensor(self, door: int) -> None:
        self.chip.failing_lines.add(self.SENSORS[door - 1])

    def break_pulse(self, door: int) -> None:
        self.chip.glitching_lines.add(self.LATCHES[door - 1])

    async def lose_hardware(self) -> None:
        self.chip.failing_lines.update(range(self.chip.num_lines))


def _modbus_fields() -> dict[str, Any]:
    return {
        "coil_base": ModbusRig.COIL_BASE,
        "input_base": ModbusRig.INPUT_BASE,
        "pulse_ms": PULSE_MS,
        "timeout_s": 0.3,
        "retries": 0,
    }


@contextlib.asynccontextmanager
async def _modbus_tcp_rig() -> AsyncIterator[DoorRig]:
    board = ModbusBoard()
    port = free_tcp_port()
    await board.start_tcp(port)
    settings = ModbusTcpDoorSettings(
        type="modbus_tcp", host="127.0.0.1", port=port, **_modbus_fields()
    )
    bank = ModbusDoorBank(settings, DOORS)
    rig = ModbusRig(board, bank)
    await rig.close_all()
    try:
        yield rig
    finally:
        await bank.stop()
        await board.stop()


@contextlib.asynccontextmanager
async def _modbus_rtu_rig() -> AsyncIterator[DoorRig]:
    if importlib.util.find_spec("serial") is None:
        pytest.skip("pyserial is not installed (pymodbus needs it for RTU)")
    async with serial_line() as (server_end, client_end):
        board = ModbusBoard()
        await board.start_rtu(server_end)
        settings = ModbusRtuDoorSettings(
            type="modbus_rtu",
            serial_port=client_end,
            baudrate=115200,
            **_modbus_fields(),
        )
        bank = ModbusDoorBank(settings, DOORS)
        rig = ModbusRig(board, bank)
        await rig.close_all()
        try:
            yield rig
        finally:
            await bank.stop()
            await board.stop()


@contextlib.asynccontextmanager
async def _sim_rig() -> AsyncIterator[DoorRig]:
    rig = SimRig()
    try:
        yield rig
    finally:
        await rig.controller.stop()


@contextlib.asynccontextmanager
async def _gpio_rig() -> AsyncIterator[DoorRig]:
    rig = GpioRig(FakeGpioChip())
    try:
        yield rig
    finally:
        await rig.controller.stop()


RIGS: dict[str, Callable[[], contextlib.AbstractAsyncContextManager[DoorRig]]] = {
    "simulator": _sim_rig,
    "modbus_tcp": _modbus_tcp_rig,
    "modbus_rtu": _modbus_rtu_rig,
    "gpio_fake_chip": _gpio_rig,
}


@pytest.fixture(params=list(RIGS))
async def rig(request: pytest.FixtureRequest) -> AsyncIterator[DoorRig]:
    async with RIGS[request.param]() as door_rig:
        yield door_rig


@pytest.fixture
async def started(rig: DoorRig) -> DoorRig:
    await rig.controller.start()
    return rig


async def _eventually(check: Callable[[], Awaitable[bool]], within_s: float = 2.0) -> None:
    # Hardware state is polled, as a technician's probe would: the drivers expose no events.
    for _ in range(int(within_s / 0.005)):
        if await check():
            return
        await asyncio.sleep(0.005)
    pytest.fail(f"not reached within {within_s} s")


async def test_start_switches_every_relay_off(rig: DoorRig) -> None:
    await rig.energise_all()
    assert await rig.relays_on() == set(range(1, DOORS + 1))

    await rig.controller.start()

    assert await rig.relays_on() == set()
    assert rig.controller.door_count == DOORS


async def test_open_pulses_that_door_on_then_off(started: DoorRig) -> None:
    rig = started
    opening = asyncio.create_task(rig.controller.open(2))

    async def relay_2_alone_on() -> bool:
        return await rig.relays_on() == {2}

    await _eventually(relay_2_alone_on)
    await opening

    assert await rig.relays_on() == set()
    assert rig.pulsed() == [2]
    assert await rig.sensors.read(2) == SensorState.OPEN  # the spring pushed it open
    assert await rig.sensors.read(1) == SensorState.CLOSED


async def test_unknown_door_raises_and_touches_no_relay(started: DoorRig) -> None:
    rig = started
    for door in (0, DOORS + 1, -1):
        with pytest.raises(UnknownDoorError):
            await rig.controller.open(door)
    assert rig.pulsed() == []
    assert await rig.relays_on() == set()
    with pytest.raises(UnknownDoorError):
        await rig.sensors.read(DOORS + 1)


async def test_sensor_readings_map_to_doors(started: DoorRig) -> None:
    rig = started
    await rig.set_door(1, is_open=True)
    await rig.set_door(3, is_open=True)

    assert await rig.sensors.read(1) == SensorState.OPEN
    assert await rig.sensors.read(2) == SensorState.CLOSED
    assert await rig.sensors.read_all() == {
        1: SensorState.OPEN,
        2: SensorState.CLOSED,
        3: SensorState.OPEN,
        4: SensorState.CLOSED,
    }

    await rig.set_door(3, is_open=False)
    assert (await rig.sensors.read_all())[3] == SensorState.CLOSED


async def test_a_dead_sensor_reads_unknown_in_read_all_and_raises_alone(started: DoorRig) -> None:
    rig = started
    await rig.set_door(4, is_open=True)
    rig.break_sensor(2)

    with pytest.raises(SensorError) as caught:
        await rig.sensors.read(2)
    assert caught.value.door == 2
    assert await rig.sensors.read_all() == {
        1: SensorState.CLOSED,
        2: SensorState.UNKNOWN,
        3: SensorState.CLOSED,
        4: SensorState.OPEN,
    }


async def test_a_pulse_that_fails_midway_raises_door_error_and_leaves_relay_off(
    started: DoorRig,
) -> None:
    rig = started
    rig.break_pulse(3)

    with pytest.raises(DoorError) as caught:
        await rig.controller.open(3)

    assert not isinstance(caught.value, UnknownDoorError)
    assert caught.value.door == 3
    assert await rig.relays_on() == set()
    await rig.controller.open(1)  # the fault stays with its door
    assert 1 in rig.pulsed()
    assert await rig.relays_on() == set()


async def test_cancelling_open_mid_pulse_leaves_relay_off(started: DoorRig) -> None:
    rig = started
    opening = asyncio.create_task(rig.controller.open(4))

    async def relay_4_on() -> bool:
        return 4 in await rig.relays_on()

    await _eventually(relay_4_on)
    opening.cancel()
    with pytest.raises(asyncio.CancelledError):
        await opening

    async def all_off() -> bool:
        return await rig.relays_on() == set()

    await _eventually(all_off)


async def test_overlapping_opens_of_different_doors_all_pulse(started: DoorRig) -> None:
    rig = started
    await asyncio.gather(*(rig.controller.open(door) for door in (1, 2, 3)))

    assert sorted(rig.pulsed()) == [1, 2, 3]
    assert await rig.relays_on() == set()
    states = await rig.sensors.read_all()
    assert [states[door] for door in (1, 2, 3, 4)] == [SensorState.OPEN] * 3 + [SensorState.CLOSED]


async def test_stop_never_raises(rig: DoorRig) -> None:
    await rig.controller.stop()  # before start
    await rig.controller.start()
    await rig.controller.open(1)
    await rig.lose_hardware()

    await rig.controller.stop()
    await rig.controller.stop()  # twice


async def test_a_second_start_keeps_working(started: DoorRig) -> None:
    rig = started
    await rig.controller.start()
    await rig.controller.open(1)
    assert rig.pulsed() == [1]
    assert await rig.relays_on() == set()
