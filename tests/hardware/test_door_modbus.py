"""Modbus driver behaviour beyond the port contract: links that drop, wiring, batching, errors."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest

from hardware.doors.modbus import ModbusDoorBank, ModbusTcpDoorSettings
from hardware.doors.modbus_settings import ModbusDoorPoint
from hardware.doors.port import SensorState
from hardware.errors import DoorError, DriverConfigError
from tests.hardware.conftest import ModbusBoard, free_tcp_port


def _bank(port: int, door_count: int = 4, **overrides: Any) -> ModbusDoorBank:
    fields: dict[str, Any] = {"pulse_ms": 50, "timeout_s": 0.3, "retries": 0}
    fields.update(overrides)
    settings = ModbusTcpDoorSettings(type="modbus_tcp", host="127.0.0.1", port=port, **fields)
    return ModbusDoorBank(settings, door_count)


@pytest.fixture
def port() -> int:
    return free_tcp_port()


@pytest.fixture
async def board(modbus_board: ModbusBoard, port: int) -> ModbusBoard:
    await modbus_board.start_tcp(port)
    return modbus_board


@pytest.fixture
async def bank(board: ModbusBoard, port: int) -> AsyncIterator[ModbusDoorBank]:
    driver = _bank(port)
    await driver.start()
    try:
        yield driver
    finally:
        await driver.stop()


async def _wait_coil(board: ModbusBoard, coil: int, value: bool) -> None:
    for _ in range(400):
        if (await board.coils())[coil] == value:
            return
        await asyncio.sleep(0.005)
    pytest.fail(f"coil {coil} never became {value}")


async def test_start_without_a_board_is_a_config_error(port: int) -> None:
    driver = _bank(port)
    with pytest.raises(DriverConfigError, match="cannot switch relays off"):
        await driver.start()
    await driver.stop()


async def test_coils_the_board_does_not_have_are_refused_at_start(
    board: ModbusBoard, port: int
) -> None:
    driver = _bank(port, coil_base=board.size)  # past the last coil
    with pytest.raises(DriverConfigError, match="exception code 2"):
        await driver.start()
    await driver.stop()


async def test_reconnects_when_the_board_comes_back(
    board: ModbusBoard, bank: ModbusDoorBank, port: int
) -> None:
    await board.stop()
    with pytest.raises(DoorError):
        await bank.open(1)

    revived = ModbusBoard()
    await revived.start_tcp(port)
    try:
        await bank.open(2)
        # Door 1's relay never confirmed "off", so that goes first.
        assert [(coil, on) for _, coil, on in revived.writes] == [(0, False), (1, True), (1, False)]
    finally:
        await revived.stop()


async def test_a_relay_left_on_by_a_lost_link_is_switched_off_once_the_board_is_back(
    board: ModbusBoard, port: int
) -> None:
    driver = _bank(port, pulse_ms=400)
    await driver.start()
    opening = asyncio.create_task(driver.open(1))
    await _wait_coil(board, 0, True)
    await board.stop()  # the cable is pulled mid-pulse
    with pytest.raises(DoorError, match="relay"):
        await opening

    # The board kept power, so its relay is still on when the link comes back.
    revived = ModbusBoard()
    await revived.start_tcp(port)
    try:
        await revived.set_coil(0, True)
        assert await driver.read(2) == SensorState.OPEN  # any request retries the stuck relay
        assert not any(await revived.coils())
    finally:
        await driver.stop()
        await revived.stop()


async def test_sensors_are_read_while_a_pulse_is_in_progress(board: ModbusBoard, port: int) -> None:
    driver = _bank(port, pulse_ms=400)
    await driver.start()
    try:
        opening = asyncio.create_task(driver.open(3))
        await _wait_coil(board, 2, True)
        await driver.read_all()
        assert (await board.coils())[2], "read_all waited for the pulse to end"
        await opening
    finally:
        await driver.stop()


async def test_read_all_asks_once_per_block_of_consecutive_inputs(
    board: ModbusBoard, port: int
) -> None:
    driver = _bank(port, door_count=8, input_base=3)
    await driver.start()
    try:
        await driver.read_all()
        assert board.input_reads == [(3, 8)]
    finally:
        await driver.stop()


async def test_per_door_wiring_reaches_a_second_board_on_the_bus(port: int) -> None:
    board = ModbusBoard(device_ids=(1, 2))
    await board.start_tcp(port)
    wiring = {3: ModbusDoorPoint(coil=7, input=9, coil_device_id=2, input_device_id=2)}
    driver = _bank(port, door_count=3, doors=wiring)
    try:
        await board.set_input(9, True, unit=2)  # door 3 closed
        await driver.start()
        assert (2, 7, False) in board.writes  # start switched unit 2's relay off too
        board.writes.clear()

        await driver.open(3)

        assert board.writes == [(2, 7, True), (2, 7, False)]
        await board.set_input(9, False, unit=2)
        states = await driver.read_all()
        assert states[3] == SensorState.OPEN
    finally:
        await driver.stop()
        await board.stop()


async def test_inputs_that_read_on_when_open_can_be_inverted(board: ModbusBoard, port: int) -> None:
    driver = _bank(port, input_on_means_closed=False)
    await driver.start()
    try:
        await board.set_input(1, True)
        assert await driver.read_all() == {
            1: SensorState.CLOSED,
            2: SensorState.OPEN,
            3: SensorState.CLOSED,
            4: SensorState.CLOSED,
        }
    finally:
        await driver.stop()


def test_two_doors_on_one_coil_is_a_config_error() -> None:
    wiring = {2: ModbusDoorPoint(coil=0, input=5)}  # door 1 already uses coil 0
    with pytest.raises(DriverConfigError, match="share a coil"):
        _bank(502, doors=wiring)
