"""Time for the services. The domain never reads a clock; services ask one of these."""

from __future__ import annotations

import time
from typing import Protocol


class Clock(Protocol):
    """Where the services read the time: wall-clock and monotonic."""

    def now(self) -> float:
        """Wall-clock time, unix seconds (may be wrong on a board without RTC: see time floor)."""
        ...

    def monotonic(self) -> float:
        """Seconds from an arbitrary start; never jumps. For timeouts and latency."""
        ...


class SystemClock:
    """The real clock of the machine."""

    def now(self) -> float:
        """Wall-clock time, unix seconds."""
        return time.time()

    def monotonic(self) -> float:
        """Monotonic seconds, for measuring durations."""
        return time.monotonic()


class ManualClock:
    """A clock the tests and simulations move by hand."""

    def __init__(self, start: float = 1_800_000_000.0) -> None:
        self._now = start
        self._mono = 0.0

    def now(self) -> float:
        """Wall-clock time as last set or advanced."""
        return self._now

    def monotonic(self) -> float:
        """Monotonic seconds; they only move forward with `advance`."""
        return self._mono

    def advance(self, seconds: float) -> None:
        """Moves both clocks on by `seconds` (monotonic time never goes back)."""
        self._now += seconds
        self._mono += max(0.0, seconds)

    def set(self, now: float) -> None:
        """Jump the wall clock (as a board without RTC does); monotonic time is unaffected."""
        self._now = now
