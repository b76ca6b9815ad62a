"""The demo as a newcomer runs it (`locker-agent demo`), in a subprocess, for browser tests."""

from __future__ import annotations

import asyncio
import contextlib
import json
import signal
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any


@dataclass(frozen=True, slots=True)
class RunningDemo:
    orders: list[dict[str, Any]]
    url: str  # the kiosk, without the trailing slash
    pins: dict[str, str]  # role -> PIN
    courier_label: str  # an announced parcel for the courier to load


@contextlib.asynccontextmanager
async def running_demo(data_dir: Path, *, door_close_s: float = 1.0) -> AsyncIterator[RunningDemo]:
    """`locker-agent demo --json` on a free port, stopped with SIGTERM at the end."""
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "agent",
        "demo",
        "--json",
        "--port",
        "0",
        "--data-dir",
        str(data_dir),
        "--door-close-s",
        str(door_close_s),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        assert process.stdout is not None
        lines = []
        for _ in range(9):
            line = await asyncio.wait_for(process.stdout.readline(), 30)
            lines.append(json.loads(line))
        pins = {p["role"]: p["pin"] for p in lines[6:8]}
        url = lines[5]["kiosk_url"].rstrip("/")
        yield RunningDemo(lines[:5], url, pins, lines[8]["courier_label"])
    finally:
        if process.returncode is None:
            process.send_signal(signal.SIGTERM)
        _, stderr = await asyncio.wait_for(process.communicate(), 20)
        assert b"Traceback" not in stderr, stderr.decode()[-2000:]
