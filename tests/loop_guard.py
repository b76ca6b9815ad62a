"""Fails tests that block the event loop: asyncio's debug mode reports every callback that held
the loop longer than a threshold; the guard collects those reports.

A test the guard fails is run up to twice more (pytest-rerunfailures, `--only-rerun` in
pyproject.toml): on a loaded 2-core machine (`make test` runs two workers) CPU contention can
stretch a short callback past the threshold, while a callback that really blocks (a sync call on
the loop) fails every run."""

from __future__ import annotations

import asyncio
import logging

BLOCKING_THRESHOLD_S = 0.25  # generous for a loaded 2-core CI machine; real handlers take < 5 ms


class LoopBlockGuard(logging.Handler):
    """Collects asyncio's slow-callback reports while installed on a loop."""

    def __init__(self, threshold_s: float = BLOCKING_THRESHOLD_S) -> None:
        super().__init__(level=logging.WARNING)
        self.reports: list[str] = []
        self.threshold_s = threshold_s

    def emit(self, record: logging.LogRecord) -> None:
        message = record.getMessage()
        if "took" in message and "Executing" in message:
            self.reports.append(message)

    def install(self, loop: asyncio.AbstractEventLoop) -> None:
        loop.set_debug(True)
        loop.slow_callback_duration = self.threshold_s
        logging.getLogger("asyncio").addHandler(self)

    def uninstall(self) -> None:
        logging.getLogger("asyncio").removeHandler(self)
