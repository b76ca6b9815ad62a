"""Config sections for hardware: the door driver (chosen by `type`) and the camera.

The pydantic models describe the TOML keys; each maps onto the frozen settings dataclass of the
`hardware` package, which checks its own values (and names the key) when built.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

from hardware.camera.scanner import ScannerSettings
from hardware.doors.settings import (
    DoorDriverSettings,
    GpioDoorSettings,
    ModbusDoorPoint,
    ModbusRtuDoorSettings,
    ModbusTcpDoorSettings,
    SimulatorDoorSettings,
)


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class SimulatorDriverConfig(_Section):
    type: Literal["simulator"] = Field("simulator", description="Driver type.")
    relay_pulse_ms: int = Field(0, ge=0, le=5000, description="Simulated relay pulse length.")
    auto_close_ms: int = Field(
        0,
        ge=0,
        le=600_000,
        description="A simulated door opened by the agent closes by itself after this long "
        "(0: never).",
    )

    def to_settings(self, door_count: int) -> DoorDriverSettings:
        return SimulatorDoorSettings(
            door_count=door_count, pulse_ms=self.relay_pulse_ms, auto_close_ms=self.auto_close_ms
        )


class ModbusPointConfig(_Section):
    coil: int = Field(ge=0, le=65535, description="Coil address of this door's latch relay.")
    input: int = Field(ge=0, le=65535, description="Discrete input of this door's sensor.")
    coil_device_id: int | None = Field(None, description="Relay board unit id (default: bank).")
    input_device_id: int | None = Field(None, description="Input board unit id (default: bank).")


class _ModbusConfig(_Section):
    device_id: int = Field(1, description="Modbus unit/device id of the board (1..247).")
    coil_base: int = Field(0, description="Coil address (0-based) of door 1's latch relay.")
    input_base: int = Field(0, description="Discrete input address (0-based) of door 1's sensor.")
    doors: dict[int, ModbusPointConfig] = Field(
        default_factory=dict, description="Per-door wiring overriding the default layout."
    )
    input_on_means_closed: bool = Field(True, description="An input reads ON while closed.")
    pulse_ms: int = Field(500, description="Latch pulse in ms (10..5000; latches want 300-800).")
    timeout_s: float = Field(1.0, description="Answer (and connect) timeout in seconds.")
    retries: int = Field(2, description="Repeats of an unanswered request before failing.")

    def _bank(self, door_count: int) -> dict[str, object]:
        return {
            "door_count": door_count,
            "device_id": self.device_id,
            "coil_base": self.coil_base,
            "input_base": self.input_base,
            "doors": {n: ModbusDoorPoint(**p.model_dump()) for n, p in self.doors.items()},
            "input_on_means_closed": self.input_on_means_closed,
            "pulse_ms": self.pulse_ms,
            "timeout_s": self.timeout_s,
            "retries": self.retries,
        }


class ModbusTcpDriverConfig(_ModbusConfig):
    type: Literal["modbus_tcp"] = Field(description="Driver type.")
    host: str = Field(description="Host name or IP address of the relay board.")
    port: int = Field(502, description="TCP port of the board.")

    def to_settings(self, door_count: int) -> DoorDriverSettings:
        return ModbusTcpDoorSettings(host=self.host, port=self.port, **self._bank(door_count))  # type: ignore[arg-type]


class ModbusRtuDriverConfig(_ModbusConfig):
    type: Literal["modbus_rtu"] = Field(description="Driver type.")
    serial_port: str = Field(description="Serial device, e.g. /dev/serial/by-id/...")
    baudrate: int = Field(9600, description="Line speed in baud.")
    parity: Literal["N", "E", "O"] = Field("N", description="Parity: N, E or O.")
    stopbits: int = Field(1, description="Stop bits: 1 or 2.")
    bytesize: int = Field(8, description="Data bits: 7 or 8.")

    def to_settings(self, door_count: int) -> DoorDriverSettings:
        return ModbusRtuDoorSettings(
            serial_port=self.serial_port,
            baudrate=self.baudrate,
            parity=self.parity,
            stopbits=self.stopbits,
            bytesize=self.bytesize,
            **self._bank(door_count),  # type: ignore[arg-type]
        )


class GpioDriverConfig(_Section):
    type: Literal["gpio"] = Field(description="Driver type.")
    chip: str = Field("/dev/gpiochip0", description="Path of the GPIO character device.")
    latch_lines: tuple[int, ...] = Field(description="Latch output line per door, door 1 first.")
    sensor_lines: tuple[int, ...] = Field(description="Sensor input line per door, door 1 first.")
    latch_active_low: bool = Field(False, description="Relay switches on when driven low.")
    sensor_active_low: bool = Field(True, description="Sensor pulls low while the door is closed.")
    sensor_pull_up: bool = Field(True, description="Internal pull-up on sensor lines.")
    pulse_ms: int = Field(500, description="Latch pulse in ms (10..5000).")

    def to_settings(self, door_count: int) -> DoorDriverSettings:
        del door_count  # the number of lines is the door count; checked against the groups
        return GpioDoorSettings(
            chip=self.chip,
            latch_lines=self.latch_lines,
            sensor_lines=self.sensor_lines,
            latch_active_low=self.latch_active_low,
            sensor_active_low=self.sensor_active_low,
            sensor_pull_up=self.sensor_pull_up,
            pulse_ms=self.pulse_ms,
        )


DoorDriverConfig = Annotated[
    SimulatorDriverConfig | ModbusTcpDriverConfig | ModbusRtuDriverConfig | GpioDriverConfig,
    Field(discriminator="type"),
]


class CameraConfig(_Section):
    enabled: bool = Field(True, description="Scan QR codes with a camera.")
    source: int | str = Field(
        "simulated",
        description="Device index, /dev/videoN, a video file, an rtsp:// URL, or `simulated`.",
    )
    width: int | None = Field(None, description="Requested frame width (e.g. 1280).")
    height: int | None = Field(None, description="Requested frame height (e.g. 720).")
    fps: float | None = Field(None, description="Requested frame rate.")
    exposure: float | None = Field(
        None, description="Exposure in device units; keep it at or below 8 ms against blur."
    )
    roi: tuple[int, int, int, int] | None = Field(
        None, description="Decode only this region: x, y, width, height."
    )
    backend: Literal["zxing", "pyzbar"] = Field("zxing", description="QR decoder.")
    debounce_s: float = Field(10.0, gt=0, description="The same code acts again after this.")
    watchdog_s: float = Field(3.0, gt=0, description="No frame for this long: restart.")

    def to_settings(self) -> ScannerSettings:
        return ScannerSettings(
            source=self.source,
            width=self.width,
            height=self.height,
            fps=self.fps,
            exposure=self.exposure,
            roi=self.roi,
            backend=self.backend,
            debounce_s=self.debounce_s,
            watchdog_s=self.watchdog_s,
        )
