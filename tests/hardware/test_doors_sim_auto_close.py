"""The simulator's self-closing doors (the demo's): a latch opening closes by itself after the set
time; a jammed, forced or re-opened door is left alone by an earlier opening's timer."""

from __future__ import annotations

import asyncio

import pytest

from hardware.doors.port import SensorState
from hardware.doors.sim import SimulatedLocker

CLOSE_S = 0.2


async def test_an_opened_door_closes_by_itself() -> None:
    sim = SimulatedLocker(4, auto_close_s=CLOSE_S)
    await sim.open(2)
    assert await sim.read(2) is SensorState.OPEN
    await asyncio.sleep(CLOSE_S * 2)
    assert await sim.read(2) is SensorState.CLOSED


async def test_without_auto_close_a_door_stays_open() -> None:
    sim = SimulatedLocker(4)
    await sim.open(2)
    await asyncio.sleep(CLOSE_S * 2)
    assert await sim.read(2) is SensorState.OPEN


async def test_an_earlier_timer_does_not_close_a_forced_or_newer_opening() -> None:
    sim = SimulatedLocker(4, auto_close_s=CLOSE_S)
    await sim.open(1)
    sim.close_door(1)
    sim.force_open(1)  # pried open after a person closed it: supervision must see it open
    await sim.open(3)
    await asyncio.sleep(CLOSE_S * 0.6)
    sim.close_door(3)
    await sim.open(3)  # opened again: the first opening's timer must not cut this one short
    await asyncio.sleep(CLOSE_S * 0.6)
    assert await sim.read(1) is SensorState.OPEN
    assert await sim.read(3) is SensorState.OPEN
    await asyncio.sleep(CLOSE_S)
    assert await sim.read(3) is SensorState.CLOSED
    assert await sim.read(1) is SensorState.OPEN


def test_a_non_positive_close_time_is_refused() -> None:
    with pytest.raises(ValueError, match="auto_close_s"):
        SimulatedLocker(2, auto_close_s=0)
