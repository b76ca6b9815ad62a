"""The door driver registry: every driver the config file's `[doors.driver] type` can name.

A new driver is one module (its `DriverSettings` subclass with a `type` literal, and the driver)
plus one entry in `DoorDriverSettings` below. The real drivers import pymodbus and gpiod lazily
(optional extra `drivers`), so the simulator works on a machine that has neither.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

from hardware.doors.gpio import GpioDoorSettings
from hardware.doors.modbus import ModbusRtuDoorSettings, ModbusTcpDoorSettings
from hardware.doors.port import DoorController, DoorSensors
from hardware.doors.settings import DriverSettings
from hardware.doors.sim import SimulatorDoorSettings

DoorDriverSettings = Annotated[
    SimulatorDoorSettings | ModbusTcpDoorSettings | ModbusRtuDoorSettings | GpioDoorSettings,
    Field(discriminator="type"),
]


def make_door_driver(
    settings: DriverSettings, door_count: int
) -> tuple[DoorController, DoorSensors]:
    """Build the door controller and sensors that `settings` describe (not started yet).

    Both may be the same object. The caller calls `controller.start()` before anything else and
    `controller.stop()` on shutdown. Raises `DriverConfigError` if the driver's library is not
    installed or the settings cannot drive `door_count` doors.
    """
    return settings.build(door_count)
