import asyncio
import time

import pytest

from tests.loop_guard import BLOCKING_THRESHOLD_S, LoopBlockGuard


@pytest.mark.allow_blocking
async def test_guard_reports_a_callback_that_blocks_the_loop() -> None:
    guard = LoopBlockGuard()
    guard.install(asyncio.get_running_loop())
    try:

        async def blocker() -> None:
            time.sleep(BLOCKING_THRESHOLD_S * 1.5)  # noqa: ASYNC251 - the point of the test

        await asyncio.create_task(blocker())
    finally:
        guard.uninstall()
    assert guard.reports, "a 0.37 s time.sleep on the loop must be reported"


async def test_guard_is_quiet_for_work_off_the_loop() -> None:
    guard = LoopBlockGuard()
    guard.install(asyncio.get_running_loop())
    try:
        await asyncio.to_thread(time.sleep, BLOCKING_THRESHOLD_S * 1.5)
    finally:
        guard.uninstall()
    assert guard.reports == []


def test_sync_tests_still_run() -> None:
    assert BLOCKING_THRESHOLD_S > 0
