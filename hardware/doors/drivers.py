"""The door driver registry: builds the driver a `DoorDriverSettings` describes.

The real drivers import pymodbus and gpiod lazily (optional extra `drivers`), so the simulator
works on a machine that has neither.
"""

from __future__ import annotations

from hardware.doors.port import DoorController, DoorSensors
from hardware.doors.settings import (
    DoorDriverSettings,
    GpioDoorSettings,
    ModbusRtuDoorSettings,
    SimulatorDoorSettings,
)
from hardware.errors import DriverConfigError


def make_door_driver(settings: DoorDriverSettings) -> tuple[DoorController, DoorSensors]:
    """Build the door controller and sensors that `settings` describe (not started yet).

    Both may be the same object. The caller calls `controller.start()` before anything else and
    `controller.stop()` on shutdown. Raises `DriverConfigError` if the driver's library is not
    installed.
    """
    if isinstance(settings, SimulatorDoorSettings):
        from hardware.doors.sim import SimulatedLocker

        locker = SimulatedLocker(
            settings.door_count,
            relay_pulse_s=settings.pulse_ms / 1000,
            auto_close_s=settings.auto_close_ms / 1000 or None,
        )
        return locker, locker
    if isinstance(settings, GpioDoorSettings):
        _require_library("gpiod", "gpio")
        from hardware.doors.gpio import GpioDoorBank

        gpio_bank = GpioDoorBank(settings)
        return gpio_bank, gpio_bank
    _require_library("pymodbus", settings.type)
    if isinstance(settings, ModbusRtuDoorSettings):
        _require_library("serial", settings.type)
    from hardware.doors.modbus import ModbusDoorBank

    modbus_bank = ModbusDoorBank(settings)
    return modbus_bank, modbus_bank


def _require_library(module: str, driver: str) -> None:
    import importlib.util

    if importlib.util.find_spec(module) is None:
        raise DriverConfigError(
            f"doors.type: the {driver} driver needs the Python module {module!r}; "
            "install the agent with the 'drivers' extra"
        )
