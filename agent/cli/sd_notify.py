"""systemd notify protocol: `READY=1` once serving, `WATCHDOG=1` from the event loop, `STOPPING=1`.

The protocol (sd_notify(3)) is one datagram of `KEY=VALUE` lines to the AF_UNIX socket named in
`$NOTIFY_SOCKET` (a leading `@` means the abstract namespace). With `WatchdogSec=` systemd sets
`$WATCHDOG_USEC` (and `$WATCHDOG_PID`): a service that sends no `WATCHDOG=1` for that long is
killed and, with `Restart=`, started again. The keep-alive is sent by a task on the agent's own
event loop, so a loop that blocks (a sync call, a deadlock) stops it: that is the point. Without
`$NOTIFY_SOCKET` (not under systemd) every call is a no-op. Sending never blocks: the socket is
non-blocking and a lost datagram is only logged (systemd then acts as if the agent had hung).
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
from collections.abc import Mapping

_LOG = logging.getLogger(__name__)


class Notifier:
    """Sends states to systemd; `watchdog_s` is the watchdog period, None when there is none."""

    def __init__(self, environ: Mapping[str, str] | None = None) -> None:
        env = os.environ if environ is None else environ
        name = env.get("NOTIFY_SOCKET", "")
        self._address = ("\0" + name[1:] if name.startswith("@") else name) or None
        self.watchdog_s = _watchdog_period(env)
        self._sock: socket.socket | None = None

    @property
    def enabled(self) -> bool:
        return self._address is not None

    def notify(self, state: str) -> bool:
        """Send `state` (e.g. "READY=1"); True if the datagram left."""
        if self._address is None:
            return False
        try:
            if self._sock is None:
                self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC)
                self._sock.setblocking(False)
            self._sock.sendto(state.encode("utf-8"), self._address)
        except OSError as err:
            _LOG.warning("systemd notify %s failed: %s", state.split("=", 1)[0], err)
            return False
        return True

    async def feed_watchdog(self) -> None:
        """Send WATCHDOG=1 at half the watchdog period until cancelled (sd_watchdog_enabled(3)
        recommends half). Returns at once when there is no watchdog."""
        if self.watchdog_s is None:
            return
        while True:
            self.notify("WATCHDOG=1")
            await asyncio.sleep(self.watchdog_s / 2)

    def close(self) -> None:
        if self._sock is not None:
            self._sock.close()
            self._sock = None


def _watchdog_period(env: Mapping[str, str]) -> float | None:
    try:
        usec = int(env.get("WATCHDOG_USEC", "0"))
        pid = int(env.get("WATCHDOG_PID", "0"))
    except ValueError:
        return None
    if usec <= 0 or (pid and pid != os.getpid()):  # meant for another process (a parent)
        return None
    return usec / 1_000_000
