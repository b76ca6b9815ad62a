"""`locker-agent demo --data-dir DIR` restarts on its own data."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import urllib.request
from pathlib import Path

AGENT = [sys.executable, "-m", "agent"]


def _start(data_dir: Path) -> tuple[subprocess.Popen[str], list[dict[str, str]], str]:
    process = subprocess.Popen(
        [*AGENT, "demo", "--json", "--port", "0", "--data-dir", str(data_dir)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None
    orders: list[dict[str, str]] = []
    while True:
        line = process.stdout.readline()
        assert line, process.communicate(timeout=20)[1][-2000:]
        record = json.loads(line)
        if "kiosk_url" in record:
            return process, orders, record["kiosk_url"]
        orders.append(record)


def _stop(process: subprocess.Popen[str]) -> str:
    process.send_signal(signal.SIGINT)
    _, stderr = process.communicate(timeout=20)
    assert process.returncode == 0, stderr[-2000:]
    return stderr


def _post(url: str, path: str, body: dict[str, str]) -> int:
    request = urllib.request.Request(  # noqa: S310 - a local URL the demo printed
        url.rstrip("/") + path,
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json"},
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310
            return int(response.status)
    except urllib.error.HTTPError as err:
        return err.code


def test_the_demo_restarts_on_its_own_data_and_keeps_its_orders(tmp_path: Path) -> None:
    data = tmp_path / "demo"
    process, first, _ = _start(data)
    stderr = _stop(process)
    assert "Traceback" not in stderr
    assert len(first) == 5

    process, second, url = _start(data)
    try:
        assert len(second) == 5  # fresh orders in the free doors
        # what the first run handed out still works: its typed code and its signed token
        assert _post(url, "/api/v1/pickup/code", {"code": first[0]["code"]}) == 200
        assert _post(url, "/api/v1/pickup/scan", {"payload": first[1]["token"]}) == 200
    finally:
        stderr = _stop(process)
    assert "Traceback" not in stderr
