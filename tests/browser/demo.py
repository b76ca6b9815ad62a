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
    lines: list[Any] = []
    # the orders, the kiosk URL, the PINs and the screens, then the return and the 18+ order
    while not (lines and "age_order" in lines[-1]):
        line = process.stdout.readline()
        if not line:
            break
        lines.append(json.loads(line))
    return process, lines


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
        orders = [line for line in lines if "order" in line]
        pins = {line["role"]: line["pin"] for line in lines if "role" in line}
        (url,) = (line["kiosk_url"].rstrip("/") for line in lines if "kiosk_url" in line)
        (label,) = (line["courier_label"] for line in lines if "courier_label" in line)
        (age_order,) = (line for line in lines if "age_order" in line)
        yield RunningDemo(orders, url, pins, label, age_order)
    finally:
        stderr = await asyncio.to_thread(_stop, process)
        assert "Traceback" not in stderr, stderr[-2000:]
