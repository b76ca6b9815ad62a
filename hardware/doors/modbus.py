"""Modbus relay boards (TCP, or RTU over RS-485) as the door port.

A latch is a coil, a door-closed sensor is a discrete input. One `ModbusDoorBank` owns one
pymodbus client and is both the controller and the sensors. Every request holds one bus lock:
RTU is half-duplex and a TCP gateway in front of an RS-485 line is no better, so requests never
interleave, but the lock is not held during a latch pulse, so sensors are read while it lasts.

pymodbus is imported lazily (optional extra `drivers`; RTU also needs pyserial). Its own
automatic reconnect is switched off: this driver reconnects when a request needs the link,
which keeps every reconnect inside the bus lock and bounded by the configured timeout.
"""

from __future__ import annotations

import asyncio
import importlib
import logging
from collections.abc import Mapping
from typing import TYPE_CHECKING, Literal

from pydantic import Field

from hardware.doors.modbus_settings import ModbusBankSettings, door_points
from hardware.doors.modbus_wiring import (
    MAX_COILS_PER_WRITE,
    MAX_INPUTS_PER_READ,
    ModbusPoint,
    Request,
    raise_if_cancel_was_lost,
    runs,
    switch_off_run,
    write_coil,
)
from hardware.doors.port import DoorController, DoorSensors, SensorState
from hardware.doors.settings import checked_door_count, require_library
from hardware.errors import DoorError, DriverConfigError, SensorError, UnknownDoorError

if TYPE_CHECKING:
    from pymodbus.client.base import ModbusBaseClient
    from pymodbus.pdu import ModbusPDU


_LOG = logging.getLogger(__name__)


class ModbusTcpDoorSettings(ModbusBankSettings):
    """A Modbus TCP relay board (or an RS-485 gateway reached over TCP)."""

    type: Literal["modbus_tcp"] = Field("modbus_tcp", description="Driver type.")
    host: str = Field(min_length=1, description="Host name or IP address of the relay board.")
    port: int = Field(502, ge=1, le=65535, description="TCP port of the board.")

    def build(self, door_count: int) -> tuple[DoorController, DoorSensors]:
        """One Modbus TCP bank as controller and sensors; `DriverConfigError` without pymodbus."""
        require_library("pymodbus", self.type)
        return _bank(self, door_count)


class ModbusRtuDoorSettings(ModbusBankSettings):
    """Modbus RTU relay boards on a serial (RS-485) line; several boards may share the line."""

    type: Literal["modbus_rtu"] = Field("modbus_rtu", description="Driver type.")
    serial_port: str = Field(min_length=1, description="Serial device, e.g. /dev/serial/by-id/...")
    baudrate: int = Field(9600, gt=0, description="Line speed in baud.")
    parity: Literal["N", "E", "O"] = Field("N", description="Parity: N, E or O.")
    stopbits: Literal[1, 2] = Field(1, description="Stop bits: 1 or 2.")
    bytesize: Literal[7, 8] = Field(8, description="Data bits: 7 or 8.")

    def build(self, door_count: int) -> tuple[DoorController, DoorSensors]:
        """One Modbus RTU bank as controller and sensors; `DriverConfigError` without pymodbus
        or pyserial."""
        require_library("pymodbus", self.type)
        require_library("serial", self.type)
        return _bank(self, door_count)


def _bank(
    settings: ModbusTcpDoorSettings | ModbusRtuDoorSettings, door_count: int
) -> tuple[DoorController, DoorSensors]:
    bank = ModbusDoorBank(settings, checked_door_count(settings, door_count))
    return bank, bank


class _BusError(Exception):
    """A request failed. `link` is True when the board was not reached at all."""

    def __init__(self, detail: str, *, link: bool) -> None:
        super().__init__(detail)
        self.link = link


class ModbusDoorBank(DoorController, DoorSensors):
    """Latches on Modbus coils and sensors on Modbus discrete inputs (see `DoorController`)."""

    def __init__(
        self, settings: ModbusTcpDoorSettings | ModbusRtuDoorSettings, door_count: int
    ) -> None:
        self._settings = settings
        self._coils, self._inputs = door_points(settings, door_count)
        self._coil_runs = runs(self._coils, MAX_COILS_PER_WRITE)
        self._input_runs = runs(self._inputs, MAX_INPUTS_PER_READ)
        self._pulse_s = settings.pulse_ms / 1000
        # Upper bound for one request including pymodbus' own retries, so nothing hangs.
        self._deadline_s = settings.timeout_s * (settings.retries + 2)
        self._bus = asyncio.Lock()
        self._door_locks = {door: asyncio.Lock() for door in self._coils}
        self._stuck: set[int] = set()  # doors whose relay did not confirm "off"
        self._client: ModbusBaseClient | None = None

    @property
    def door_count(self) -> int:
        """How many doors the bank drives: one per latch coil."""
        return len(self._coils)

    @property
    def where(self) -> str:
        """The bus this bank talks to, for logs and error messages."""
        settings = self._settings
        if settings.type == "modbus_tcp":
            return f"modbus tcp {settings.host}:{settings.port}"
        return f"modbus rtu {settings.serial_port}"

    # -- DoorController ------------------------------------------------------------------------
    async def start(self) -> None:
        """Connect and switch every relay off; `DriverConfigError` if the board is unreachable."""
        if self._client is None:  # a second start() only switches the relays off again
            # The first import of pymodbus takes a few hundred ms: not on the event loop.
            await asyncio.to_thread(importlib.import_module, "pymodbus.client")
            self._client = self._make_client()
        try:
            await self._all_off()
        except _BusError as err:
            self._client.close()
            self._client = None
            raise DriverConfigError(f"{self.where}: cannot switch relays off: {err}") from err
        _LOG.info("%s: %d doors, all relays off", self.where, self.door_count)

    async def open(self, door: int) -> None:
        """Pulse `door`'s latch coil (on, wait, off; never overlapping); `DoorError` on failure."""
        point = self._coils.get(door)
        if point is None:
            raise UnknownDoorError(door, "no such door")
        # A second pulse of the same door must not be cut short by the first one's "off".
        async with self._door_locks[door]:
            try:
                await self._pulse(door, point)
            except _BusError as err:
                _LOG.warning("%s: door %d latch pulse failed: %s", self.where, door, err)
                raise DoorError(door, f"latch pulse failed: {err}") from err

    async def stop(self) -> None:
        """Switch every relay off and close the connection; failures are only logged."""
        client = self._client
        if client is None:
            return
        try:
            await self._all_off()
        except Exception as err:  # stop() never raises, by contract
            _LOG.warning("%s: could not switch relays off at stop: %s", self.where, err)
        finally:
            self._client = None
            try:
                client.close()
            except Exception as err:  # stop() never raises, by contract
                _LOG.warning("%s: close failed: %s", self.where, err)

    # -- DoorSensors ---------------------------------------------------------------------------
    async def read(self, door: int) -> SensorState:
        """`door`'s discrete input as a state; `SensorError` when the board does not answer it."""
        point = self._inputs.get(door)
        if point is None:
            raise UnknownDoorError(door, "no such door")
        try:
            bits = await self._read_inputs(point.device_id, point.address, 1)
        except _BusError as err:
            raise SensorError(door, str(err)) from err
        return self._state(bits[0])

    async def read_all(self) -> Mapping[int, SensorState]:
        """Every sensor, one request per run of consecutive inputs; a run the board refuses is read
        door by door, a lost link makes its doors UNKNOWN."""
        states: dict[int, SensorState] = {}
        for run in self._input_runs:
            try:
                bits = await self._read_inputs(run.device_id, run.start, len(run.doors))
            except _BusError as err:
                if err.link:
                    states.update(dict.fromkeys(run.doors, SensorState.UNKNOWN))
                else:
                    # The board refused the block (e.g. one dead input): ask door by door so
                    # only the doors that really fail read UNKNOWN.
                    states.update({door: await self._read_or_unknown(door) for door in run.doors})
                continue
            states.update(zip(run.doors, map(self._state, bits), strict=False))
        return dict(sorted(states.items()))

    # -- internals -----------------------------------------------------------------------------
    async def _pulse(self, door: int, point: ModbusPoint) -> None:
        try:
            await self._request(write_coil(point, True), f"door {door} relay on")
            await asyncio.sleep(self._pulse_s)
        finally:
            # Also after a failed "on": the board may have switched before its answer got lost.
            # Shielded so that cancelling open() cannot leave a relay on.
            released = await asyncio.shield(self._release(door, point))
        if not released:
            raise _BusError(f"door {door} relay did not confirm off", link=True)

    async def _release(self, door: int, point: ModbusPoint) -> bool:
        try:
            await self._request(write_coil(point, False), f"door {door} relay off")
        except _BusError as err:
            self._stuck.add(door)
            _LOG.error(
                "%s: door %d relay may still be on (retried later): %s", self.where, door, err
            )
            return False
        self._stuck.discard(door)
        return True

    async def _all_off(self) -> None:
        for run in self._coil_runs:
            await self._request(switch_off_run(run), "all relays off")
        self._stuck.clear()

    async def _read_inputs(self, device_id: int, start: int, count: int) -> list[bool]:
        response = await self._request(
            lambda client: client.read_discrete_inputs(start, count=count, device_id=device_id),
            f"read inputs {start}..{start + count - 1} of unit {device_id}",
        )
        bits = list(response.bits[:count])
        if len(bits) != count:
            raise _BusError(f"board answered {len(bits)} inputs, asked for {count}", link=False)
        return bits

    async def _read_or_unknown(self, door: int) -> SensorState:
        try:
            return await self.read(door)
        except SensorError as err:
            _LOG.warning("%s: %s", self.where, err)
            return SensorState.UNKNOWN

    def _state(self, bit: bool) -> SensorState:
        closed = bit == self._settings.input_on_means_closed
        return SensorState.CLOSED if closed else SensorState.OPEN

    async def _request(self, request: Request, what: str) -> ModbusPDU:
        async with self._bus:
            if self._stuck:
                await self._retry_stuck()
            return await self._request_locked(request, what)

    async def _retry_stuck(self) -> None:
        for door in sorted(self._stuck):
            point = self._coils[door]
            try:
                await self._request_locked(
                    write_coil(point, False), f"door {door} relay off (retry)"
                )
            except _BusError:
                return  # still unreachable: the request that follows reports the failure
            self._stuck.discard(door)
            _LOG.info("%s: door %d relay confirmed off", self.where, door)

    async def _request_locked(self, request: Request, what: str) -> ModbusPDU:
        from pymodbus.exceptions import ModbusException

        client = self._client
        if client is None:
            raise _BusError(f"{what}: driver not started", link=True)
        # One retry after a reconnect: a dropped TCP link (gateway reboot, cable) heals here.
        # Every request this driver sends is idempotent, so sending it twice is safe.
        for attempt in (1, 2):
            await self._connect(client, what)
            try:
                async with asyncio.timeout(self._deadline_s):
                    response = await request(client)
            except (ModbusException, OSError, TimeoutError) as err:
                if attempt == 1 and not client.connected:
                    continue
                raise _BusError(f"{what}: {err or type(err).__name__}", link=True) from err
            raise_if_cancel_was_lost()
            if response.isError():
                code = getattr(response, "exception_code", "?")
                raise _BusError(f"{what}: board answered exception code {code}", link=False)
            return response
        raise AssertionError("unreachable")  # pragma: no cover

    async def _connect(self, client: ModbusBaseClient, what: str) -> None:
        if client.connected:
            return
        try:
            async with asyncio.timeout(self._settings.timeout_s + 1):
                connected = await client.connect()
        except (OSError, TimeoutError) as err:
            raise _BusError(f"{what}: cannot connect: {err}", link=True) from err
        if not connected:
            raise _BusError(f"{what}: cannot connect to {self.where}", link=True)
        _LOG.info("%s: connected", self.where)

    def _make_client(self) -> ModbusBaseClient:
        from pymodbus.client import AsyncModbusSerialClient, AsyncModbusTcpClient

        settings = self._settings
        if settings.type == "modbus_tcp":
            return AsyncModbusTcpClient(
                settings.host,
                port=settings.port,
                timeout=settings.timeout_s,
                retries=settings.retries,
                reconnect_delay=0,
            )
        try:
            return AsyncModbusSerialClient(
                settings.serial_port,
                baudrate=settings.baudrate,
                parity=settings.parity,
                stopbits=settings.stopbits,
                bytesize=settings.bytesize,
                timeout=settings.timeout_s,
                retries=settings.retries,
                reconnect_delay=0,
            )
        except RuntimeError as err:  # pyserial missing
            raise DriverConfigError(f"{self.where}: {err}") from err
