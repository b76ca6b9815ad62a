"""systemd notify on a real AF_UNIX datagram socket: READY, a watchdog fed by the loop, STOPPING."""

from __future__ import annotations

import itertools
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from agent.cli.sd_notify import Notifier


@pytest.fixture
def notify_socket(tmp_path: Path) -> Iterator[tuple[socket.socket, str]]:
    path = str(tmp_path / "notify.sock")
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(path)
    sock.settimeout(0.2)
    try:
        yield sock, path
    finally:
        sock.close()


def _collect(sock: socket.socket, seconds: float) -> list[tuple[float, str]]:
    """Every datagram that arrives within `seconds`, with its arrival time."""
    got: list[tuple[float, str]] = []
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        try:
            data = sock.recv(4096)
        except TimeoutError:
            continue
        got.append((time.monotonic(), data.decode()))
    return got


def test_states_arrive_as_datagrams(notify_socket: tuple[socket.socket, str]) -> None:
    sock, path = notify_socket
    notifier = Notifier({"NOTIFY_SOCKET": path, "WATCHDOG_USEC": "2000000"})
    assert notifier.watchdog_s == 2.0
    assert notifier.notify("READY=1\nSTATUS=serving")
    assert sock.recv(4096) == b"READY=1\nSTATUS=serving"
    notifier.close()


def test_the_abstract_namespace_is_spelt_with_an_at_sign() -> None:
    name = f"locker-test-{os.getpid()}"
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind("\0" + name)
    notifier = Notifier({"NOTIFY_SOCKET": "@" + name})
    try:
        assert notifier.notify("STOPPING=1")
        assert sock.recv(64) == b"STOPPING=1"
    finally:
        notifier.close()
        sock.close()


def test_without_systemd_nothing_is_sent_and_nothing_fails(tmp_path: Path) -> None:
    assert not Notifier({}).notify("READY=1")
    assert Notifier({}).watchdog_s is None
    # a watchdog meant for another process (systemd sets WATCHDOG_PID) is not ours to feed
    other = {"NOTIFY_SOCKET": str(tmp_path / "x"), "WATCHDOG_USEC": "1000000", "WATCHDOG_PID": "1"}
    assert Notifier(other).watchdog_s is None
    # a socket that is gone: logged, not raised
    gone = Notifier({"NOTIFY_SOCKET": str(tmp_path / "gone.sock")})
    assert not gone.notify("READY=1")
    gone.close()


_STALLING_LOOP = """
import asyncio, time
from agent.cli.sd_notify import Notifier

async def main():
    notifier = Notifier()
    feeding = asyncio.create_task(notifier.feed_watchdog())
    await asyncio.sleep(1.0)
    time.sleep(1.5)  # the loop is blocked: nothing can feed the watchdog
    await asyncio.sleep(1.0)
    feeding.cancel()

asyncio.run(main())
"""


def test_a_stalled_event_loop_stops_feeding_the_watchdog(
    notify_socket: tuple[socket.socket, str],
) -> None:
    sock, path = notify_socket
    env = {**os.environ, "NOTIFY_SOCKET": path, "WATCHDOG_USEC": "300000"}
    proc = subprocess.Popen([sys.executable, "-c", _STALLING_LOOP], env=env)
    try:
        got = _collect(sock, 4.5)
    finally:
        proc.wait(timeout=10)
    times = [at for at, state in got if state == "WATCHDOG=1"]
    gaps = [b - a for a, b in itertools.pairwise(times)]
    assert len(times) >= 8  # fed every 0.15 s while the loop runs
    stalls = [g for g in gaps if g > 0.3]  # longer than WatchdogSec: systemd would kill here
    assert len(stalls) == 1
    assert stalls[0] >= 1.4
    assert max(g for g in gaps if g <= 0.3) < 0.3


def test_the_agent_is_ready_feeds_the_watchdog_and_says_it_is_stopping(
    tmp_path: Path, notify_socket: tuple[socket.socket, str]
) -> None:
    sock, path = notify_socket
    config = tmp_path / "agent.toml"
    config.write_text(
        f'[locker]\nid = "LCK-SD"\ndata_dir = "{tmp_path / "data"}"\n\n'
        '[api]\nhost = "127.0.0.1"\nport = 0\n\n[camera]\nenabled = false\n\n'
        '[doors.driver]\ntype = "simulator"\n',
        encoding="utf-8",
    )
    env = {**os.environ, "NOTIFY_SOCKET": path, "WATCHDOG_USEC": "1000000"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "agent", "run", "--config", str(config)],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        states: list[str] = []
        deadline = time.monotonic() + 60
        while not any(s.startswith("READY=1") for s in states) and time.monotonic() < deadline:
            states += [state for _, state in _collect(sock, 0.5)]
        assert any(s.startswith("READY=1\nSTATUS=serving on http://127.0.0.1:") for s in states)
        fed = [state for _, state in _collect(sock, 2.0) if state == "WATCHDOG=1"]
        assert len(fed) >= 3  # every 0.5 s for a 1 s watchdog
        proc.send_signal(signal.SIGTERM)
        after = [state for _, state in _collect(sock, 2.0)]
        assert "STOPPING=1" in after
        assert proc.wait(timeout=30) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
