"""Run a started agent until SIGINT or SIGTERM, and the exit statuses of `locker-agent`."""

from __future__ import annotations

import asyncio
import contextlib
import signal
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

from agent.cli.sd_notify import Notifier

if TYPE_CHECKING:  # the CLI's check commands import this module without the whole agent
    from agent.bootstrap.app import Agent

EXIT_OK, EXIT_RUNTIME, EXIT_CONFIG, EXIT_DATABASE, EXIT_CHECK_FAILED = 0, 1, 2, 3, 4


def _install_stop_signals(stop: asyncio.Event) -> None:
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, stop.set)


async def serve(
    agent: Agent, *, on_started: Callable[[Agent], Awaitable[None]] | None = None
) -> None:
    """Start the agent, tell systemd it is ready, serve until a stop signal, then stop cleanly."""
    stop = asyncio.Event()
    _install_stop_signals(stop)
    systemd = Notifier()  # a no-op unless systemd started us (Type=notify, deploy/)
    watchdog = asyncio.create_task(systemd.feed_watchdog(), name="agent.systemd-watchdog")
    try:
        await agent.start()
        if on_started is not None:
            await on_started(agent)
        systemd.notify(f"READY=1\nSTATUS=serving on {agent.url}")
        await agent.serve(stop)
    finally:
        systemd.notify("STOPPING=1")
        watchdog.cancel()
        await agent.stop()
        systemd.close()
