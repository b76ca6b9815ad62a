"""GPIO driver behaviour beyond the port contract: line configuration, polarity, chip errors.

Most tests use the fake chip from conftest. `test_on_the_kernel_gpio_simulator` drives a real
gpiochip made by the kernel's gpio-sim module, where the machine has one.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from gpiod.line import Bias, Direction, Value

from hardware.doors.gpio import GpioDoorBank, GpioDoorSettings
from hardware.doors.port import SensorState
from hardware.errors import DoorError, DriverConfigError, SensorError
from tests.hardware.conftest import FakeGpioChip

GPIO_SIM = Path("/sys/kernel/config/gpio-sim")


def _settings(chip: str, **overrides: Any) -> GpioDoorSettings:
    fields: dict[str, Any] = {"latch_lines": (0, 1), "sensor_lines": (4, 5), "pulse_ms": 20}
    fields.update(overrides)
    return GpioDoorSettings(chip=chip, **fields)


async def test_lines_are_requested_as_configured(fake_chip: FakeGpioChip) -> None:
    bank = GpioDoorBank(
        _settings(fake_chip.path, latch_active_low=True, consumer="locker-7"),
        line_requester=fake_chip.request_lines,
    )
    await bank.start()
    try:
        (request,) = fake_chip.requests
        assert request.consumer == "locker-7"
        latch, sensor = request.settings[0], request.settings[4]
        assert latch.direction == Direction.OUTPUT
        assert latch.output_value == Value.INACTIVE  # off from the instant the line is ours
        assert latch.active_low
        assert sensor.direction == Direction.INPUT
        assert sensor.bias == Bias.PULL_UP
        assert sensor.active_low
    finally:
        await bank.stop()


async def test_active_high_latch_is_high_only_during_the_pulse(fake_chip: FakeGpioChip) -> None:
    bank = GpioDoorBank(_settings(fake_chip.path), line_requester=fake_chip.request_lines)
    await bank.start()
    try:
        assert fake_chip.levels[0] is False
        assert fake_chip.levels[1] is False
        await bank.open(2)
        assert fake_chip.history == [(1, True), (1, False)]
    finally:
        await bank.stop()


async def test_active_low_latch_rests_high(fake_chip: FakeGpioChip) -> None:
    bank = GpioDoorBank(
        _settings(fake_chip.path, latch_active_low=True), line_requester=fake_chip.request_lines
    )
    await bank.start()
    try:
        assert fake_chip.levels[0] is True
        fake_chip.history.clear()
        await bank.open(1)
        assert fake_chip.history == [(0, False), (0, True)]
    finally:
        await bank.stop()


async def test_active_high_sensor_without_pull_up(fake_chip: FakeGpioChip) -> None:
    settings = _settings(fake_chip.path, sensor_active_low=False, sensor_pull_up=False)
    bank = GpioDoorBank(settings, line_requester=fake_chip.request_lines)
    await bank.start()
    try:
        assert fake_chip.requests[0].settings[4].bias == Bias.AS_IS
        fake_chip.external[4] = True  # door 1's contact drives the line high: closed
        assert await bank.read_all() == {1: SensorState.CLOSED, 2: SensorState.OPEN}
    finally:
        await bank.stop()


async def test_a_chip_that_is_not_there_is_a_config_error(fake_chip: FakeGpioChip) -> None:
    bank = GpioDoorBank(_settings("/dev/gpiochip9"), line_requester=fake_chip.request_lines)
    with pytest.raises(DriverConfigError, match="cannot request lines"):
        await bank.start()


async def test_a_line_held_by_another_program_is_a_config_error(fake_chip: FakeGpioChip) -> None:
    other = fake_chip.request_lines(fake_chip.path, config={5: None}, consumer="someone-else")
    bank = GpioDoorBank(_settings(fake_chip.path), line_requester=fake_chip.request_lines)
    with pytest.raises(DriverConfigError, match="busy"):
        await bank.start()
    other.release()
    await bank.start()  # nothing was left half-held by the failed attempt
    await bank.stop()


async def test_stop_releases_the_lines(fake_chip: FakeGpioChip) -> None:
    bank = GpioDoorBank(_settings(fake_chip.path), line_requester=fake_chip.request_lines)
    await bank.start()
    await bank.stop()
    assert fake_chip.requests[0].released
    assert fake_chip.owners == {}


async def test_calls_before_start_fail_with_port_errors(fake_chip: FakeGpioChip) -> None:
    bank = GpioDoorBank(_settings(fake_chip.path), line_requester=fake_chip.request_lines)
    with pytest.raises(DoorError):
        await bank.open(1)
    with pytest.raises(SensorError):
        await bank.read(1)
    assert await bank.read_all() == {1: SensorState.UNKNOWN, 2: SensorState.UNKNOWN}


# -- the kernel's gpio-sim ------------------------------------------------------------------------


def _gpio_sim_missing() -> str | None:
    if not GPIO_SIM.is_dir():
        return (
            "the kernel's gpio-sim is not available here (needs configfs at /sys/kernel/config "
            "and `modprobe gpio-sim`); the fake-chip tests cover the driver logic"
        )
    if os.geteuid() != 0:
        return "gpio-sim needs root to create a chip"
    return None


@pytest.fixture
def sim_chip() -> Iterator[tuple[str, Path]]:
    """A live gpio-sim chip with 8 lines: (device path, sysfs directory of its lines)."""
    device = GPIO_SIM / f"locker-agent-test-{os.getpid()}"
    bank = device / "bank0"
    device.mkdir()
    bank.mkdir()
    try:
        (bank / "num_lines").write_text("8")
        (device / "live").write_text("1")
        chip_name = (bank / "chip_name").read_text().strip()
        dev_name = (device / "dev_name").read_text().strip()
        yield f"/dev/{chip_name}", Path("/sys/devices/platform") / dev_name / chip_name
    finally:
        (device / "live").write_text("0")
        bank.rmdir()
        device.rmdir()


@pytest.mark.skipif(_gpio_sim_missing() is not None, reason=str(_gpio_sim_missing()))
async def test_on_the_kernel_gpio_simulator(sim_chip: tuple[str, Path]) -> None:
    chip, lines = sim_chip

    def level(line: int) -> str:
        return (lines / f"sim_gpio{line}" / "value").read_text().strip()

    def pull(line: int, direction: str) -> None:
        (lines / f"sim_gpio{line}" / "pull").write_text(direction)

    bank = GpioDoorBank(_settings(chip, pulse_ms=300))
    await bank.start()
    try:
        assert level(0) == level(1) == "0"
        # The driver asked for pull-up bias: a sensor with no contact reads high, the door open.
        assert await bank.read(1) == SensorState.OPEN
        pull(4, "pull-down")  # door 1's contact to ground closes
        assert await bank.read_all() == {1: SensorState.CLOSED, 2: SensorState.OPEN}

        opening = asyncio.create_task(bank.open(1))
        for _ in range(200):
            if level(0) == "1":
                break
            await asyncio.sleep(0.005)
        assert level(0) == "1"
        await opening
        assert level(0) == "0"
    finally:
        await bank.stop()
