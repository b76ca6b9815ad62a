"""Where each door of a Modbus bank is wired, and the requests that switch runs of coils.

Pure helpers of `hardware.doors.modbus`: no I/O, no pymodbus import at module level.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pymodbus.client.base import ModbusBaseClient
    from pymodbus.pdu import ModbusPDU

MAX_COILS_PER_WRITE = 1968  # Modbus application protocol limit for function 15
MAX_INPUTS_PER_READ = 2000  # ... and for function 2

Request = Callable[["ModbusBaseClient"], Awaitable["ModbusPDU"]]


@dataclass(frozen=True, slots=True)
class ModbusPoint:
    """One coil or discrete input: which unit on the bus, which 0-based address."""

    device_id: int
    address: int


@dataclass(frozen=True, slots=True)
class Run:
    """Doors whose points are consecutive addresses on one unit: one request serves them all."""

    device_id: int
    start: int
    doors: tuple[int, ...]


def runs(points: Mapping[int, ModbusPoint], max_len: int) -> list[Run]:
    ordered = sorted(points.items(), key=lambda item: (item[1].device_id, item[1].address))
    runs: list[Run] = []
    for door, point in ordered:
        last = runs[-1] if runs else None
        if (
            last is not None
            and last.device_id == point.device_id
            and last.start + len(last.doors) == point.address
            and len(last.doors) < max_len
        ):
            runs[-1] = Run(last.device_id, last.start, (*last.doors, door))
        else:
            runs.append(Run(point.device_id, point.address, (door,)))
    return runs


def raise_if_cancel_was_lost() -> None:
    # pymodbus waits for answers with asyncio.wait_for, which on Python 3.11 drops a cancel that
    # arrives together with the answer. Honour it, or a cancelled open() would carry on pulsing.
    task = asyncio.current_task()
    if task is not None and task.cancelling():
        raise asyncio.CancelledError


def write_coil(point: ModbusPoint, on: bool) -> Request:
    def send(client: ModbusBaseClient) -> Awaitable[ModbusPDU]:
        return client.write_coil(point.address, on, device_id=point.device_id)

    return send


def switch_off_run(run: Run) -> Request:
    values = [False] * len(run.doors)

    def send(client: ModbusBaseClient) -> Awaitable[ModbusPDU]:
        return client.write_coils(run.start, values, device_id=run.device_id)

    return send
