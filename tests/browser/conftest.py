"""A real agent on a free port and a real headless Chromium for each kiosk test."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.agent.conftest import RunningAgent, start_agent
from tests.agent.ops.conftest import OpsAgent, running_ops_agent
from tests.browser.cdp import CdpPage, chromium_page


@pytest.fixture
async def locker(tmp_path: Path) -> AsyncIterator[RunningAgent]:
    running = await start_agent(tmp_path / "data")
    try:
        yield running
    finally:
        await running.close()


@pytest.fixture
async def page() -> AsyncIterator[CdpPage]:
    """A page in a fresh Chromium; the test fails if the page threw an uncaught error."""
    async with chromium_page() as opened:
        yield opened
        if opened.exceptions:
            pytest.fail("the kiosk page threw: " + "; ".join(opened.exceptions[:3]))


@pytest.fixture
async def ops_locker(tmp_path: Path) -> AsyncIterator[OpsAgent]:
    """A locker with a courier PIN and a staff PIN (tests.agent.ops.conftest), for staff screens."""
    async with running_ops_agent(tmp_path / "data") as running:
        yield running


@pytest.fixture
async def ops_counter(tmp_path: Path) -> AsyncIterator[OpsAgent]:
    """A staffed counter (no doors) with the same PINs."""
    async with running_ops_agent(tmp_path / "data", mode="counter") as running:
        yield running
