"""The demo as a newcomer runs it (`locker-agent demo`), in a subprocess, for browser tests."""

from __future__ import annotations

import asyncio
import contextlib
import json
import signal
import subprocess
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
    age_order: dict[str, Any]  # the 18+ order: {"age_order": id, "code", "door"}


def _start(data_dir: Path, door_close_s: float) -> tuple[subprocess.Popen[str], list[Any]]:
    """Starts the demo and reads its ten JSON lines (blocking: run in a thread, since forking
    this large test process can hold the event loop for longer than the test guard allows)."""
    process = subprocess.Popen(
        [
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
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None
    return process, [json.loads(process.stdout.readline()) for _ in range(10)]


def _stop(process: subprocess.Popen[str]) -> str:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
    _, stderr = process.communicate(timeout=20)
    return stderr


@contextlib.asynccontextmanager
async def running_demo(data_dir: Path, *, door_close_s: float = 1.0) -> AsyncIterator[RunningDemo]:
    """`locker-agent demo --json` on a free port, stopped with SIGTERM at the end."""
    process, lines = await asyncio.to_thread(_start, data_dir, door_close_s)
    try:
        pins = {p["role"]: p["pin"] for p in lines[6:8]}
        url = lines[5]["kiosk_url"].rstrip("/")
        yield RunningDemo(lines[:5], url, pins, lines[8]["courier_label"], lines[9])
    finally:
        stderr = await asyncio.to_thread(_stop, process)
        assert "Traceback" not in stderr, stderr[-2000:]
