"""Door hardware test rigs: a relay board on pymodbus' own server, and a fake gpiochip.

Both speak the real interfaces the drivers use: the Modbus board is pymodbus' server reached over
a real TCP socket or a real pseudo-terminal pair (RTU framing), and the fake chip implements the
call signature of `gpiod.request_lines` and the `LineRequest` methods the GPIO driver uses, with
real `gpiod.LineSettings`/`Value` objects. Both record what the hardware saw, so tests assert on
relay levels and not on which methods were called.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import os
import socket
import tty
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import gpiod
import pytest
from gpiod import LineSettings
from gpiod.line import Bias, Direction, Value
from pymodbus.constants import ExcCodes
from pymodbus.server import ModbusSerialServer, ModbusTcpServer
from pymodbus.simulator import DataType, SimData, SimDevice

# -- Modbus ---------------------------------------------------------------------------------------


def free_tcp_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class ModbusBoard:
    """A relay board: coils and discrete inputs 0..size-1 on each unit in `device_ids`.

    Faults: reads of a discrete input in `broken_inputs` are answered with a device-failure
    exception; a write that switches on a coil in `lost_on_answers` is carried out but its answer
    is never sent (the client times out, the relay is on).
    """

    device_ids: tuple[int, ...] = (1,)
    size: int = 32
    writes: list[tuple[int, int, bool]] = field(default_factory=list)  # (unit, coil, value)
    input_reads: list[tuple[int, int]] = field(default_factory=list)  # (address, count)
    broken_inputs: set[int] = field(default_factory=set)
    lost_on_answers: set[int] = field(default_factory=set)
    # Called with (unit, coil) when a coil is switched on: a rig makes the door pop open.
    on_coil_on: Callable[[int, int], Awaitable[None]] | None = None
    _server: Any = None
    _drop_next_answer: bool = False
    _last_read_count: int = 1

    def _device(self, unit: int) -> Any:
        def bits() -> list[SimData]:
            return [SimData(0, count=self.size, values=False, datatype=DataType.BITS)]

        def regs() -> list[SimData]:
            return [SimData(0, count=1, values=0, datatype=DataType.REGISTERS)]

        async def action(
            function_code: int,
            _start: int,
            address: int,
            count: int,
            _registers: list[int],
            values: list[int] | list[bool] | None,
        ) -> Any:
            return await self._action(unit, function_code, address, count, values)

        return SimDevice(id=unit, simdata=(bits(), bits(), regs(), regs()), action=action)

    async def _action(
        self, unit: int, function_code: int, address: int, count: int, values: Any
    ) -> Any:
        if function_code == 2 and values is None:
            # `count` counts 16-bit registers here; the request itself says how many inputs.
            count = self._last_read_count
            self.input_reads.append((address, count))
            if self.broken_inputs & set(range(address, address + count)):
                return ExcCodes.DEVICE_FAILURE
        if function_code in (5, 15) and values is not None:
            for offset, value in enumerate(values):
                coil = address + offset
                self.writes.append((unit, coil, bool(value)))
                if value and coil in self.lost_on_answers:
                    self._drop_next_answer = True
                if value and self.on_coil_on is not None:
                    await self.on_coil_on(unit, coil)
        return None

    def _trace_pdu(self, sending: bool, pdu: Any) -> Any:
        if not sending and pdu.function_code == 2:
            self._last_read_count = pdu.count
        return pdu

    def _trace_packet(self, sending: bool, data: bytes) -> bytes:
        if sending and self._drop_next_answer:
            self._drop_next_answer = False
            return b""
        return data

    async def start_tcp(self, port: int) -> None:
        devices = [self._device(unit) for unit in self.device_ids]
        self._server = ModbusTcpServer(
            devices,
            address=("127.0.0.1", port),
            trace_packet=self._trace_packet,
            trace_pdu=self._trace_pdu,
        )
        await self._server.serve_forever(background=True)

    async def start_rtu(self, serial_path: str) -> None:
        devices = [self._device(unit) for unit in self.device_ids]
        self._server = ModbusSerialServer(
            devices,
            port=serial_path,
            baudrate=115200,
            trace_packet=self._trace_packet,
            trace_pdu=self._trace_pdu,
        )
        await self._server.serve_forever(background=True)

    async def stop(self) -> None:
        server, self._server = self._server, None
        if server is not None:
            await server.shutdown()

    async def coils(self, unit: int = 1) -> list[bool]:
        return [bool(bit) for bit in await self._server.async_getValues(unit, 1, 0, self.size)]

    async def set_coil(self, coil: int, value: bool, unit: int = 1) -> None:
        await self._server.async_setValues(unit, 5, coil, [value])

    async def set_input(self, address: int, value: bool, unit: int = 1) -> None:
        await self._server.async_setValues(unit, 2, address, [value])


@contextlib.asynccontextmanager
async def serial_line() -> AsyncIterator[tuple[str, str]]:
    """Two pseudo-terminals joined like a null-modem cable: (server end, client end).

    Each pty's master side is pumped into the other's on the event loop, so RTU frames written to
    one slave device come out of the other, with no external tool.
    """
    loop = asyncio.get_running_loop()
    master_a, slave_a = os.openpty()
    master_b, slave_b = os.openpty()
    for fd in (slave_a, slave_b):
        tty.setraw(fd)
    for fd in (master_a, master_b):
        os.set_blocking(fd, False)

    def pump(source: int, sink: int) -> Callable[[], None]:
        def forward() -> None:
            with contextlib.suppress(BlockingIOError):
                try:
                    data = os.read(source, 4096)
                except OSError as err:  # EIO once the slave side is closed
                    if err.errno != errno.EIO:
                        raise
                    return
                os.write(sink, data)

        return forward

    loop.add_reader(master_a, pump(master_a, master_b))
    loop.add_reader(master_b, pump(master_b, master_a))
    try:
        yield os.ttyname(slave_a), os.ttyname(slave_b)
    finally:
        for fd in (master_a, master_b):
            loop.remove_reader(fd)
        for fd in (master_a, master_b, slave_a, slave_b):
            os.close(fd)


# -- GPIO -----------------------------------------------------------------------------------------


class FakeLineRequest:
    """The `gpiod.LineRequest` subset the GPIO driver uses, over a `FakeGpioChip`."""

    def __init__(self, chip: FakeGpioChip, settings: dict[int, Any], consumer: str | None) -> None:
        self.chip = chip
        self.settings = settings
        self.consumer = consumer
        self.released = False

    def _check(self, line: int) -> Any:
        if self.released:
            raise gpiod.RequestReleasedError()
        if line not in self.settings:
            raise ValueError(f"line {line} is not in this request")
        if line in self.chip.failing_lines:
            raise OSError(errno.EIO, "I/O error")
        return self.settings[line]

    def get_value(self, line: int) -> Any:
        settings = self._check(line)
        if settings.direction == Direction.OUTPUT:
            high = self.chip.levels[line]
        else:
            high = self.chip.input_level(line, settings.bias)
        return Value.ACTIVE if high != settings.active_low else Value.INACTIVE

    def get_values(self, lines: Iterable[int]) -> list[Any]:
        return [self.get_value(line) for line in lines]

    def set_value(self, line: int, value: Any) -> None:
        settings = self._check(line)
        if settings.direction != Direction.OUTPUT:
            raise OSError(errno.EPERM, f"line {line} is not an output")
        self.chip.drive(line, (value == Value.ACTIVE) != settings.active_low)
        if line in self.chip.glitching_lines and value == Value.ACTIVE:
            # The level changed, but the ioctl reports an error (a flaky expander, say).
            raise OSError(errno.EIO, "I/O error")

    def set_values(self, values: dict[int | str, Any]) -> None:
        for line, value in values.items():
            assert isinstance(line, int)
            self.set_value(line, value)

    def release(self) -> None:
        self.released = True
        for line in self.settings:
            self.chip.owners.pop(line, None)


@dataclass
class FakeGpioChip:
    """A gpiochip at `path` with `num_lines` lines, and the world wired to it.

    `levels` is the physical level of each line (True: high). Outputs start low, as a pin does
    before anyone drives it. `external` is what outside circuitry drives onto an input line
    (None: floating, so the bias decides). `history` records every physical output change.
    """

    path: str = "/dev/gpiochip-fake"
    num_lines: int = 32
    levels: dict[int, bool] = field(default_factory=dict)
    external: dict[int, bool | None] = field(default_factory=dict)
    history: list[tuple[int, bool]] = field(default_factory=list)
    owners: dict[int, FakeLineRequest] = field(default_factory=dict)
    requests: list[FakeLineRequest] = field(default_factory=list)
    failing_lines: set[int] = field(default_factory=set)
    glitching_lines: set[int] = field(default_factory=set)
    on_output: Callable[[int, bool], None] | None = None

    def __post_init__(self) -> None:
        for line in range(self.num_lines):
            self.levels.setdefault(line, False)

    def request_lines(
        self,
        path: str,
        config: dict[Any, Any],
        consumer: str | None = None,
        event_buffer_size: int | None = None,
        output_values: dict[Any, Any] | None = None,
    ) -> FakeLineRequest:
        if path != self.path:
            raise FileNotFoundError(errno.ENOENT, "No such file or directory", path)
        settings: dict[int, LineSettings] = {}
        for lines, line_settings in config.items():
            for line in lines if isinstance(lines, tuple) else (lines,):
                if not 0 <= line < self.num_lines:
                    raise ValueError(f"invalid line offset {line}")
                if line in self.owners:
                    raise OSError(errno.EBUSY, "Device or resource busy")
                settings[line] = line_settings or LineSettings()
        request = FakeLineRequest(self, settings, consumer)
        for line, line_settings in settings.items():
            self.owners[line] = request
            if line_settings.direction == Direction.OUTPUT:
                active = line_settings.output_value == Value.ACTIVE
                self.drive(line, active != line_settings.active_low)
        self.requests.append(request)
        return request

    def drive(self, line: int, high: bool) -> None:
        if self.levels[line] != high:
            self.history.append((line, high))
        self.levels[line] = high
        if self.on_output is not None:
            self.on_output(line, high)

    def input_level(self, line: int, bias: Any) -> bool:
        driven = self.external.get(line)
        if driven is not None:
            return driven
        return bool(bias == Bias.PULL_UP)  # floating: the pull-up wins, else the line reads low


@pytest.fixture
def fake_chip() -> FakeGpioChip:
    return FakeGpioChip()


@pytest.fixture
async def modbus_board() -> AsyncIterator[ModbusBoard]:
    board = ModbusBoard()
    try:
        yield board
    finally:
        await board.stop()
