"""Door driver settings, one frozen dataclass per driver type.

The settings are a union of frozen dataclasses told apart by their `type` key (`simulator`,
`modbus_tcp`, `modbus_rtu`, `gpio`), so a config file section maps onto exactly one of them.
Each field's docstring is the text for the config documentation. Every settings object checks
itself when built and raises `DriverConfigError` naming the field and the problem.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

from hardware.errors import DriverConfigError

PULSE_MS_MIN = 10
# A latch solenoid held on for seconds overheats; no real latch needs more than this.
PULSE_MS_MAX = 5000
_MODBUS_DEVICE_IDS = range(1, 248)  # 0 is broadcast (no answer), 248..255 are reserved
_MODBUS_ADDRESSES = range(65536)


def _require(ok: bool, key: str, problem: str) -> None:
    if not ok:
        raise DriverConfigError(f"doors.{key}: {problem}")


def _check_pulse(pulse_ms: int) -> None:
    _require(
        PULSE_MS_MIN <= pulse_ms <= PULSE_MS_MAX,
        "pulse_ms",
        f"must be between {PULSE_MS_MIN} and {PULSE_MS_MAX} ms, got {pulse_ms}",
    )


@dataclass(frozen=True, slots=True, kw_only=True)
class SimulatorDoorSettings:
    """The built-in simulated locker bank (demo, tests, a kiosk without hardware)."""

    type: Literal["simulator"] = "simulator"
    door_count: int
    """Number of doors, numbered 1..door_count."""
    pulse_ms: int = 0
    """Simulated latch pulse length in milliseconds (0: instantaneous)."""
    auto_close_ms: int = 0
    """A door opened by a latch pulse closes by itself after this long (0: never; the doors of
    a locker run as its own process, e.g. the deployed-agent soak, have nobody to shut them)."""

    def __post_init__(self) -> None:
        _require(self.door_count >= 1, "door_count", "a locker has at least one door")
        _require(0 <= self.pulse_ms <= PULSE_MS_MAX, "pulse_ms", f"must be 0..{PULSE_MS_MAX}")
        _require(self.auto_close_ms >= 0, "auto_close_ms", "must be 0 (never) or more")


@dataclass(frozen=True, slots=True, kw_only=True)
class ModbusDoorPoint:
    """Where one door is wired when it does not follow the default layout.

    Addresses are 0-based protocol addresses (coil 0 is the first relay, what some board
    manuals call "00001").
    """

    coil: int
    """Coil address of the door's latch relay."""
    input: int
    """Discrete input address of the door's closed sensor."""
    coil_device_id: int | None = None
    """Unit/device id of the relay board; None: the bank's `device_id`."""
    input_device_id: int | None = None
    """Unit/device id of the input board; None: the bank's `device_id`."""


@dataclass(frozen=True, slots=True, kw_only=True)
class ModbusBankSettings:
    """Fields shared by Modbus TCP and RTU relay boards.

    Default layout: door n's latch is coil `coil_base + n - 1` and its closed sensor is discrete
    input `input_base + n - 1`, both on unit `device_id`; `doors` overrides single doors.
    """

    door_count: int
    """Number of doors, numbered 1..door_count."""
    device_id: int = 1
    """Modbus unit/device id of the board (1..247)."""
    coil_base: int = 0
    """Coil address (0-based) of door 1's latch relay."""
    input_base: int = 0
    """Discrete input address (0-based) of door 1's closed sensor."""
    doors: Mapping[int, ModbusDoorPoint] = field(default_factory=dict)
    """Per-door wiring that overrides the default layout, keyed by door number."""
    input_on_means_closed: bool = True
    """True if a discrete input reads ON while its door is closed (the usual reed contact)."""
    pulse_ms: int = 500
    """How long a latch relay is held on, in milliseconds (10..5000; latches want 300-800)."""
    timeout_s: float = 1.0
    """Time to wait for a board's answer (and for connecting), in seconds."""
    retries: int = 2
    """How often pymodbus repeats a request that got no answer before it counts as failed."""

    def __post_init__(self) -> None:
        _require(self.door_count >= 1, "door_count", "a locker has at least one door")
        _require(self.device_id in _MODBUS_DEVICE_IDS, "device_id", "must be 1..247")
        for key, address in (("coil_base", self.coil_base), ("input_base", self.input_base)):
            _require(address in _MODBUS_ADDRESSES, key, "must be 0..65535")
        _check_pulse(self.pulse_ms)
        _require(self.timeout_s > 0, "timeout_s", "must be positive")
        _require(self.retries >= 0, "retries", "must be 0 or more")
        for door, point in self.doors.items():
            self._check_point(door, point)

    def _check_point(self, door: int, point: ModbusDoorPoint) -> None:
        key = f"doors.{door}"
        _require(1 <= door <= self.door_count, key, f"no such door (1..{self.door_count})")
        _require(point.coil in _MODBUS_ADDRESSES, f"{key}.coil", "must be 0..65535")
        _require(point.input in _MODBUS_ADDRESSES, f"{key}.input", "must be 0..65535")
        for name, unit in (
            ("coil_device_id", point.coil_device_id),
            ("input_device_id", point.input_device_id),
        ):
            _require(unit is None or unit in _MODBUS_DEVICE_IDS, f"{key}.{name}", "must be 1..247")


@dataclass(frozen=True, slots=True, kw_only=True)
class ModbusTcpDoorSettings(ModbusBankSettings):
    """A Modbus TCP relay board (or an RS-485 gateway reached over TCP)."""

    type: Literal["modbus_tcp"] = "modbus_tcp"
    host: str
    """Host name or IP address of the board."""
    port: int = 502
    """TCP port of the board."""

    def __post_init__(self) -> None:
        ModbusBankSettings.__post_init__(self)
        _require(bool(self.host), "host", "must not be empty")
        _require(0 < self.port < 65536, "port", "must be 1..65535")


@dataclass(frozen=True, slots=True, kw_only=True)
class ModbusRtuDoorSettings(ModbusBankSettings):
    """Modbus RTU relay boards on a serial (RS-485) line; several boards may share the line."""

    type: Literal["modbus_rtu"] = "modbus_rtu"
    serial_port: str
    """Serial device, e.g. /dev/ttyUSB0 or /dev/serial/by-id/... (stable across reboots)."""
    baudrate: int = 9600
    """Line speed in baud."""
    parity: Literal["N", "E", "O"] = "N"
    """Parity: N (none), E (even) or O (odd)."""
    stopbits: int = 1
    """Stop bits: 1 or 2."""
    bytesize: int = 8
    """Data bits: 7 or 8."""

    def __post_init__(self) -> None:
        ModbusBankSettings.__post_init__(self)
        _require(bool(self.serial_port), "serial_port", "must not be empty")
        _require(self.baudrate > 0, "baudrate", "must be positive")
        _require(self.parity in ("N", "E", "O"), "parity", "must be N, E or O")
        _require(self.stopbits in (1, 2), "stopbits", "must be 1 or 2")
        _require(self.bytesize in (7, 8), "bytesize", "must be 7 or 8")


@dataclass(frozen=True, slots=True, kw_only=True)
class GpioDoorSettings:
    """Latch relays and door sensors on GPIO lines of one gpiochip (libgpiod v2).

    Door n uses `latch_lines[n-1]` and `sensor_lines[n-1]`; the door count is their length.
    """

    type: Literal["gpio"] = "gpio"
    chip: str = "/dev/gpiochip0"
    """Path of the GPIO character device."""
    latch_lines: tuple[int, ...]
    """Line offset of each door's latch relay output, door 1 first."""
    sensor_lines: tuple[int, ...]
    """Line offset of each door's closed-sensor input, door 1 first."""
    latch_active_low: bool = False
    """True if the relay board switches on when the line is driven low (many opto boards)."""
    sensor_active_low: bool = True
    """True if the sensor pulls the line low while the door is closed (contact to ground)."""
    sensor_pull_up: bool = True
    """Enable the internal pull-up bias on sensor lines (needed for a contact to ground)."""
    pulse_ms: int = 500
    """How long a latch line is held active, in milliseconds (10..5000)."""
    consumer: str = "locker-agent"
    """Consumer name shown by `gpioinfo` for the lines this driver holds."""

    def __post_init__(self) -> None:
        _require(len(self.latch_lines) >= 1, "latch_lines", "a locker has at least one door")
        _require(
            len(self.sensor_lines) == len(self.latch_lines),
            "sensor_lines",
            f"needs one line per door ({len(self.latch_lines)}), got {len(self.sensor_lines)}",
        )
        lines = (*self.latch_lines, *self.sensor_lines)
        _require(all(offset >= 0 for offset in lines), "latch_lines", "offsets must be >= 0")
        _require(len(set(lines)) == len(lines), "latch_lines", "a line is used twice")
        _require(bool(self.chip), "chip", "must not be empty")
        _check_pulse(self.pulse_ms)

    @property
    def door_count(self) -> int:
        return len(self.latch_lines)


DoorDriverSettings = (
    SimulatorDoorSettings | ModbusTcpDoorSettings | ModbusRtuDoorSettings | GpioDoorSettings
)
