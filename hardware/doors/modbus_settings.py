"""The settings Modbus TCP and RTU relay boards share, and the door wiring they describe.

`ModbusBankSettings` holds the fields of both transports: the default layout (door n on coil
`coil_base + n - 1` and input `input_base + n - 1`), per-door overrides (`ModbusDoorPoint`),
the pulse and the timeouts. `door_points` resolves that layout into each door's coil and input
and refuses wiring that does not fit. The transport settings that build a bank (host or serial
line) are beside the driver in `modbus.py`.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

from hardware.doors.modbus_wiring import ModbusPoint
from hardware.doors.settings import DriverSettings, PulseMs
from hardware.errors import DriverConfigError

Address = Annotated[int, Field(ge=0, le=65535)]
DeviceId = Annotated[int, Field(ge=1, le=247)]  # 0 is broadcast (no answer), 248..255 reserved


class ModbusDoorPoint(BaseModel):
    """Where one door is wired when it does not follow the default layout.

    Addresses are 0-based protocol addresses (coil 0 is the first relay, what some board
    manuals call "00001").
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    coil: Address = Field(description="Coil address of this door's latch relay.")
    input: Address = Field(description="Discrete input of this door's sensor.")
    coil_device_id: DeviceId | None = Field(
        None, description="Relay board unit id (default: bank)."
    )
    input_device_id: DeviceId | None = Field(
        None, description="Input board unit id (default: bank)."
    )


class ModbusBankSettings(DriverSettings):
    """Fields shared by Modbus TCP and RTU relay boards.

    Default layout: door n's latch is coil `coil_base + n - 1` and its closed sensor is discrete
    input `input_base + n - 1`, both on unit `device_id`; `doors` overrides single doors.
    """

    device_id: DeviceId = Field(1, description="Modbus unit/device id of the board (1..247).")
    coil_base: Address = Field(0, description="Coil address (0-based) of door 1's latch relay.")
    input_base: Address = Field(
        0, description="Discrete input address (0-based) of door 1's sensor."
    )
    doors: dict[int, ModbusDoorPoint] = Field(
        default_factory=dict, description="Per-door wiring overriding the default layout."
    )
    input_on_means_closed: bool = Field(True, description="An input reads ON while closed.")
    pulse_ms: PulseMs = Field(
        500, description="Latch pulse in ms (10..5000; latches want 300-800)."
    )
    timeout_s: float = Field(1.0, gt=0, description="Answer (and connect) timeout in seconds.")
    retries: int = Field(2, ge=0, description="Repeats of an unanswered request before failing.")

    def check_doors(self, door_count: int) -> None:
        """Refuse `doors` overrides outside 1..door_count and wiring that does not fit (two doors
        on one point, an address past 65535), as `ValueError`."""
        if door_count < 1:
            raise ValueError("doors: a locker has at least one door")
        for door in self.doors:
            if not 1 <= door <= door_count:
                raise ValueError(f"doors.driver.doors.{door}: no such door (1..{door_count})")
        try:
            door_points(self, door_count)
        except DriverConfigError as err:
            raise ValueError(str(err)) from None


def door_points(
    settings: ModbusBankSettings, door_count: int
) -> tuple[dict[int, ModbusPoint], dict[int, ModbusPoint]]:
    """The coil and the input of every door, default layout plus per-door overrides.

    Raises `DriverConfigError` if two doors share a coil or an input.
    """
    coils: dict[int, ModbusPoint] = {}
    inputs: dict[int, ModbusPoint] = {}
    for door in range(1, door_count + 1):
        override = settings.doors.get(door)
        if override is None:
            coils[door] = ModbusPoint(settings.device_id, settings.coil_base + door - 1)
            inputs[door] = ModbusPoint(settings.device_id, settings.input_base + door - 1)
            continue
        coil_unit = override.coil_device_id or settings.device_id
        input_unit = override.input_device_id or settings.device_id
        coils[door] = ModbusPoint(coil_unit, override.coil)
        inputs[door] = ModbusPoint(input_unit, override.input)
    for kind, points in (("coil", coils), ("input", inputs)):
        if len(set(points.values())) != len(points):
            raise DriverConfigError(f"doors.doors: two doors share a {kind}")
        if any(point.address > 65535 for point in points.values()):
            raise DriverConfigError(f"doors: a door's {kind} address is past 65535")
    return coils, inputs
