"""Logging refused input without letting a flood of it fill the log.

Whoever can publish on the broker can send the same bad message thousands of times, and a retained
one arrives again on every reconnect. Each kind of refusal (where, reason) is logged once at
WARNING, later ones at DEBUG and counted. Payloads are never logged: they may hold anything.
"""

from __future__ import annotations

import logging
from collections import Counter
from typing import Final

_KINDS_MAX: Final = 256


class RefusalLog:
    """Counts refusals by (where, reason) and logs the first of each kind."""

    def __init__(self, logger: logging.Logger) -> None:
        self._log = logger
        self.counts: Counter[tuple[str, str]] = Counter()

    def refused(self, where: str, reason: str, detail: str = "") -> None:
        key = (where[:64], reason[:64])
        first = key not in self.counts
        if first and len(self.counts) >= _KINDS_MAX:
            key, first = ("*", "*"), False
        self.counts[key] += 1
        level = logging.WARNING if first else logging.DEBUG
        # details may echo a sender's text (a command name): one printable line, bounded
        shown = "".join(c if c.isprintable() else "?" for c in detail[:120])
        self._log.log(level, "%s refused: %s %s", key[0], key[1], shown)

    @property
    def total(self) -> int:
        return sum(self.counts.values())
