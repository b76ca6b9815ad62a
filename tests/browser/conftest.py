"""A real agent on a free port and a real headless Chromium for each kiosk test."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.agent.conftest import RunningAgent, start_agent
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
    async with chromium_page() as opened:
        yield opened
