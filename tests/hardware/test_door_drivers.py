"""Door driver settings (declared once, next to each driver; validated by pydantic with the key
named) and the registry that builds drivers from them."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Callable
from typing import Any

import pytest
from pydantic import TypeAdapter, ValidationError

from hardware.doors.drivers import DoorDriverSettings, make_door_driver
from hardware.doors.gpio import GpioDoorBank, GpioDoorSettings
from hardware.doors.modbus import ModbusDoorBank, ModbusRtuDoorSettings, ModbusTcpDoorSettings
from hardware.doors.modbus_settings import ModbusDoorPoint
from hardware.doors.port import SensorState
from hardware.doors.sim import SimulatedLocker, SimulatorDoorSettings
from hardware.errors import DriverConfigError
from tests.hardware.conftest import ModbusBoard, free_tcp_port

DRIVER = TypeAdapter(DoorDriverSettings)


def test_simulator_is_one_object_for_latches_and_sensors() -> None:
    controller, sensors = make_door_driver(SimulatorDoorSettings(pulse_ms=200), 6)
    assert isinstance(controller, SimulatedLocker)
    assert sensors is controller
    assert controller.door_count == 6


async def test_simulator_doors_shut_by_themselves_when_configured() -> None:
    """`auto_close_s`: a locker run as its own process (the deployed-agent soak, a kiosk without
    hardware) has nobody to shut its simulated doors; none (the default) leaves them open."""
    controller, sensors = make_door_driver(SimulatorDoorSettings(auto_close_s=0.05), 2)
    await controller.start()
    await controller.open(1)
    assert await sensors.read(1) is SensorState.OPEN
    await asyncio.sleep(0.2)
    assert await sensors.read(1) is SensorState.CLOSED
    still, still_sensors = make_door_driver(SimulatorDoorSettings(), 2)
    await still.start()
    await still.open(1)
    await asyncio.sleep(0.2)
    assert await still_sensors.read(1) is SensorState.OPEN


def test_gpio_settings_build_the_gpio_driver() -> None:
    settings = GpioDoorSettings(latch_lines=(17, 27, 22), sensor_lines=(5, 6, 13))
    controller, sensors = make_door_driver(settings, 3)
    assert isinstance(controller, GpioDoorBank)
    assert sensors is controller
    assert controller.door_count == settings.door_count == 3


def test_rtu_settings_build_the_modbus_driver() -> None:
    settings = ModbusRtuDoorSettings(serial_port="/dev/ttyUSB0", parity="E")
    controller, _ = make_door_driver(settings, 16)
    assert isinstance(controller, ModbusDoorBank)
    assert controller.where == "modbus rtu /dev/ttyUSB0"
    assert controller.door_count == 16


async def test_a_modbus_tcp_driver_from_the_registry_drives_a_board() -> None:
    board = ModbusBoard()
    port = free_tcp_port()
    await board.start_tcp(port)
    settings = DRIVER.validate_python(
        {"type": "modbus_tcp", "host": "127.0.0.1", "port": port, "pulse_ms": 20, "timeout_s": 0.5}
    )
    controller, sensors = make_door_driver(settings, 2)
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
        make_door_driver(ModbusTcpDoorSettings(host="board"), 1)


def test_the_registry_picks_the_driver_by_its_type() -> None:
    kinds = {
        "simulator": SimulatorDoorSettings,
        "modbus_tcp": ModbusTcpDoorSettings,
        "modbus_rtu": ModbusRtuDoorSettings,
        "gpio": GpioDoorSettings,
    }
    required: dict[str, dict[str, Any]] = {
        "modbus_tcp": {"host": "h"},
        "modbus_rtu": {"serial_port": "/dev/ttyS0"},
        "gpio": {"latch_lines": [1], "sensor_lines": [2]},
    }
    for kind, model in kinds.items():
        assert type(DRIVER.validate_python({"type": kind, **required.get(kind, {})})) is model


def test_defaults_are_what_the_docs_promise() -> None:
    tcp = ModbusTcpDoorSettings(host="10.0.0.5")
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
    rtu = ModbusRtuDoorSettings(serial_port="/dev/ttyS0")
    assert (rtu.baudrate, rtu.parity, rtu.stopbits, rtu.bytesize) == (9600, "N", 1, 8)
    gpio = GpioDoorSettings(latch_lines=(1,), sensor_lines=(2,))
    assert (gpio.chip, gpio.latch_active_low, gpio.sensor_active_low, gpio.pulse_ms) == (
        "/dev/gpiochip0",
        False,
        True,
        500,
    )
    assert gpio.consumer == "locker-agent"


def test_the_simulator_still_reads_the_old_key_name() -> None:
    assert DRIVER.validate_python({"type": "simulator", "relay_pulse_ms": 40}).pulse_ms == 40


INVALID: dict[str, tuple[dict[str, Any], str]] = {
    "pulse too short": ({"type": "modbus_tcp", "host": "h", "pulse_ms": 5}, "modbus_tcp.pulse_ms"),
    "pulse absurd": (
        {"type": "gpio", "latch_lines": [1], "sensor_lines": [2], "pulse_ms": 999_999},
        "gpio.pulse_ms",
    ),
    "simulator pulse absurd": ({"type": "simulator", "pulse_ms": 999_999}, "simulator.pulse_ms"),
    "broadcast unit": ({"type": "modbus_tcp", "host": "h", "device_id": 0}, "device_id"),
    "empty host": ({"type": "modbus_tcp", "host": ""}, "modbus_tcp.host"),
    "parity": ({"type": "modbus_rtu", "serial_port": "/dev/ttyS0", "parity": "X"}, "parity"),
    "override on a bad unit": (
        {
            "type": "modbus_tcp",
            "host": "h",
            "doors": {2: {"coil": 9, "input": 9, "coil_device_id": 300}},
        },
        "doors.2.coil_device_id",
    ),
    "sensor line count": (
        {"type": "gpio", "latch_lines": [1, 2], "sensor_lines": [3]},
        "gpio.sensor_lines",
    ),
    "latch and sensor on one line": (
        {"type": "gpio", "latch_lines": [1, 2], "sensor_lines": [2, 3]},
        "gpio.sensor_lines",
    ),
    "latch line twice": (
        {"type": "gpio", "latch_lines": [4, 4], "sensor_lines": [2, 3]},
        "gpio.latch_lines",
    ),
    "negative line": ({"type": "gpio", "latch_lines": [-1], "sensor_lines": [2]}, "latch_lines"),
    "empty consumer": (
        {"type": "gpio", "latch_lines": [1], "sensor_lines": [2], "consumer": ""},
        "gpio.consumer",
    ),
    "unknown key": ({"type": "gpio", "latch_lines": [1], "sensor_lines": [2], "lines": 3}, "lines"),
}


@pytest.mark.parametrize("case", list(INVALID))
def test_invalid_settings_are_refused_with_the_key_named(case: str) -> None:
    raw, key = INVALID[case]
    with pytest.raises(ValidationError) as info:
        DRIVER.validate_python(raw)
    located = [".".join(str(part) for part in error["loc"]) for error in info.value.errors()]
    assert any(loc.endswith(key) for loc in located), located


DOOR_COUNT: dict[str, tuple[Callable[[], Any], int, str]] = {
    "gpio lines for fewer doors": (
        lambda: GpioDoorSettings(latch_lines=(1, 2), sensor_lines=(3, 4)),
        3,
        "drives 2 doors, the groups have 3",
    ),
    "override of a door that does not exist": (
        lambda: ModbusTcpDoorSettings(host="h", doors={3: ModbusDoorPoint(coil=9, input=9)}),
        2,
        "doors.driver.doors.3: no such door",
    ),
    "two doors on one coil": (
        lambda: ModbusTcpDoorSettings(host="h", doors={2: ModbusDoorPoint(coil=0, input=5)}),
        2,
        "two doors share a coil",
    ),
}


@pytest.mark.parametrize("case", list(DOOR_COUNT))
def test_settings_that_cannot_drive_the_doors_are_refused(case: str) -> None:
    settings, door_count, message = DOOR_COUNT[case]
    with pytest.raises(ValueError, match=message):
        settings().check_doors(door_count)
    with pytest.raises(DriverConfigError, match=message):
        make_door_driver(settings(), door_count)
