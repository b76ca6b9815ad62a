"""Suite-wide guard rails: no test may block the event loop."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Iterator

import pytest

from tests.loop_guard import LoopBlockGuard


@pytest.fixture(autouse=True)
async def _no_blocking_of_the_event_loop(request: pytest.FixtureRequest) -> AsyncIterator[None]:
    """Every async test runs in asyncio debug mode; a callback over the threshold fails it."""
    if request.node.get_closest_marker("allow_blocking"):
        yield
        return
    # a test whose own loop runs only its harness (the agent under test is a child process, with
    # its own loop) may set another threshold: `@pytest.mark.loop_guard(1.0)`
    marker = request.node.get_closest_marker("loop_guard")
    guard = LoopBlockGuard(float(marker.args[0])) if marker else LoopBlockGuard()
    guard.install(asyncio.get_running_loop())
    try:
        yield
    finally:
        guard.uninstall()
    if guard.reports:
        pytest.fail("the event loop was blocked: " + "; ".join(guard.reports[:3]))


@pytest.fixture(autouse=True)
def _root_logger_restored() -> Iterator[None]:
    """A test that runs a command's `main()` in this process gets the command's stderr handler on
    the root logger; it would outlive the test's captured stderr and fail on every later record
    ("Logging error ... I/O operation on closed file"). Take it off, and restore the level."""
    root = logging.getLogger()
    before, level = list(root.handlers), root.level
    yield
    for handler in root.handlers[:]:
        if handler not in before and type(handler) is logging.StreamHandler:
            root.removeHandler(handler)
    root.setLevel(level)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Tests marked `slow` first (otherwise in their order): `make test` runs two workers, and a
    long test started last would leave one of them running alone at the end."""
    items.sort(key=lambda item: item.get_closest_marker("slow") is None)
