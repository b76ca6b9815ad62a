"""Door driver settings (validation, messages) and the factory that builds drivers from them."""

from __future__ import annotations

import asyncio
import re
import sys
from collections.abc import Callable
from typing import Any

import pytest

from hardware.doors.drivers import make_door_driver
from hardware.doors.gpio import GpioDoorBank
from hardware.doors.modbus import ModbusDoorBank
from hardware.doors.port import SensorState
from hardware.doors.settings import (
    GpioDoorSettings,
    ModbusDoorPoint,
    ModbusRtuDoorSettings,
    ModbusTcpDoorSettings,
    SimulatorDoorSettings,
)
from hardware.doors.sim import SimulatedLocker
from hardware.errors import DriverConfigError
from tests.hardware.conftest import ModbusBoard, free_tcp_port


def test_simulator_is_one_object_for_latches_and_sensors() -> None:
    controller, sensors = make_door_driver(SimulatorDoorSettings(door_count=6, pulse_ms=200))
    assert isinstance(controller, SimulatedLocker)
    assert sensors is controller
    assert controller.door_count == 6


async def test_simulator_doors_shut_by_themselves_when_configured() -> None:
    """`auto_close_ms`: a locker run as its own process (the deployed-agent soak) has nobody to
    shut its simulated doors; 0 (the default) leaves them open."""
    controller, sensors = make_door_driver(SimulatorDoorSettings(door_count=2, auto_close_ms=50))
    await controller.start()
    await controller.open(1)
    assert await sensors.read(1) is SensorState.OPEN
    await asyncio.sleep(0.2)
    assert await sensors.read(1) is SensorState.CLOSED
    still, still_sensors = make_door_driver(SimulatorDoorSettings(door_count=2))
    await still.start()
    await still.open(1)
    await asyncio.sleep(0.2)
    assert await still_sensors.read(1) is SensorState.OPEN


def test_gpio_settings_build_the_gpio_driver() -> None:
    settings = GpioDoorSettings(latch_lines=(17, 27, 22), sensor_lines=(5, 6, 13))
    controller, sensors = make_door_driver(settings)
    assert isinstance(controller, GpioDoorBank)
    assert sensors is controller
    assert controller.door_count == settings.door_count == 3


def test_rtu_settings_build_the_modbus_driver() -> None:
    settings = ModbusRtuDoorSettings(door_count=16, serial_port="/dev/ttyUSB0", parity="E")
    controller, _ = make_door_driver(settings)
    assert isinstance(controller, ModbusDoorBank)
    assert controller.where == "modbus rtu /dev/ttyUSB0"


async def test_a_modbus_tcp_driver_from_the_factory_drives_a_board() -> None:
    board = ModbusBoard()
    port = free_tcp_port()
    await board.start_tcp(port)
    settings = ModbusTcpDoorSettings(
        host="127.0.0.1", port=port, door_count=2, pulse_ms=20, timeout_s=0.5
    )
    controller, sensors = make_door_driver(settings)
    try:
        await controller.start()
        await controller.open(2)
        assert board.writes[-2:] == [(1, 1, True), (1, 1, False)]
        assert await sensors.read_all() == {1: SensorState.OPEN, 2: SensorState.OPEN}
    finally:
        await controller.stop()
        await board.stop()


def test_a_missing_driver_library_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "pymodbus", None)  # as if not installed
    with pytest.raises(DriverConfigError, match=r"'pymodbus'.*'drivers' extra"):
        make_door_driver(ModbusTcpDoorSettings(host="board", door_count=1))


def test_defaults_are_what_the_docs_promise() -> None:
    tcp = ModbusTcpDoorSettings(host="10.0.0.5", door_count=8)
    assert (tcp.type, tcp.port, tcp.device_id, tcp.coil_base, tcp.input_base) == (
        "modbus_tcp",
        502,
        1,
        0,
        0,
    )
    assert (tcp.pulse_ms, tcp.timeout_s, tcp.retries, tcp.input_on_means_closed) == (
        500,
        1.0,
        2,
        True,
    )
    rtu = ModbusRtuDoorSettings(serial_port="/dev/ttyS0", door_count=8)
    assert (rtu.baudrate, rtu.parity, rtu.stopbits, rtu.bytesize) == (9600, "N", 1, 8)
    gpio = GpioDoorSettings(latch_lines=(1,), sensor_lines=(2,))
    assert (gpio.chip, gpio.latch_active_low, gpio.sensor_active_low, gpio.pulse_ms) == (
        "/dev/gpiochip0",
        False,
        True,
        500,
    )


INVALID: dict[str, tuple[Callable[[], Any], str]] = {
    "no doors": (lambda: SimulatorDoorSettings(door_count=0), "doors.door_count"),
    "negative auto-close": (
        lambda: SimulatorDoorSettings(door_count=1, auto_close_ms=-1),
        "doors.auto_close_ms",
    ),
    "pulse too short": (
        lambda: ModbusTcpDoorSettings(host="h", door_count=1, pulse_ms=5),
        "doors.pulse_ms",
    ),
    "pulse too long": (
        lambda: GpioDoorSettings(latch_lines=(1,), sensor_lines=(2,), pulse_ms=60_000),
        "doors.pulse_ms",
    ),
    "broadcast unit": (
        lambda: ModbusTcpDoorSettings(host="h", door_count=1, device_id=0),
        "doors.device_id",
    ),
    "empty host": (lambda: ModbusTcpDoorSettings(host="", door_count=1), "doors.host"),
    "parity": (
        lambda: ModbusRtuDoorSettings(serial_port="/dev/ttyS0", door_count=1, parity="X"),
        "doors.parity",
    ),
    "override of a door that does not exist": (
        lambda: ModbusTcpDoorSettings(
            host="h", door_count=2, doors={3: ModbusDoorPoint(coil=9, input=9)}
        ),
        "doors.doors.3",
    ),
    "override on a bad unit": (
        lambda: ModbusTcpDoorSettings(
            host="h", door_count=2, doors={2: ModbusDoorPoint(coil=9, input=9, coil_device_id=300)}
        ),
        "doors.doors.2.coil_device_id",
    ),
    "sensor line count": (
        lambda: GpioDoorSettings(latch_lines=(1, 2), sensor_lines=(3,)),
        "doors.sensor_lines",
    ),
    "line used twice": (
        lambda: GpioDoorSettings(latch_lines=(1, 2), sensor_lines=(2, 3)),
        "a line is used twice",
    ),
}


@pytest.mark.parametrize("case", list(INVALID))
def test_invalid_settings_name_the_key(case: str) -> None:
    build, expected = INVALID[case]
    with pytest.raises(DriverConfigError, match=re.escape(expected)):
        build()
