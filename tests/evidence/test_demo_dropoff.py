"""A newcomer's path, as docs/evidence.md tells it, with the real commands: `locker-agent demo`
prints the expected return's token and keeps the fleet device CA in its data folder; a drop-off
with that token photographs the compartment; `locker-admin evidence verify` accepts the photos
against that CA and the demo's audit log, and refuses a copy with one byte changed."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

AGENT = [sys.executable, "-m", "agent"]
ADMIN = [str(Path(sys.executable).parent / "locker-admin")]  # the installed command


def _post(url: str, body: object) -> dict[str, object]:
    request = urllib.request.Request(  # noqa: S310 - the test's own loopback demo
        url, data=json.dumps(body).encode(), headers={"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=20) as answer:  # noqa: S310
        loaded: dict[str, object] = json.loads(answer.read())
        return loaded


def test_the_demos_return_drop_off_gives_photos_locker_admin_verifies(tmp_path: Path) -> None:
    data = tmp_path / "demo"
    process = subprocess.Popen(
        [*AGENT, "demo", "--json", "--port", "0", "--data-dir", str(data)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert process.stdout is not None
        lines: list[dict[str, object]] = []
        while not lines or "return" not in lines[-1]:
            lines.append(json.loads(process.stdout.readline()))
        url = next(str(line["kiosk_url"]) for line in lines if "kiosk_url" in line)
        dropped = lines[-1]
        assert dropped["return"] == "RET-DEMO-001"
        ca = Path(str(dropped["device_ca"]))
        assert ca == data / "fleet" / "device-ca.pem"
        assert ca.read_text().startswith("-----BEGIN CERTIFICATE-----")
        answer = _post(url + "api/v1/pickup/scan", {"payload": dropped["token"]})
        assert answer["result"] == "open"
        deadline = time.monotonic() + 20
        photos: list[Path] = []
        while time.monotonic() < deadline and len(photos) < 2:  # before, and after the close
            photos = sorted((data / "evidence").glob("*.jpg"))
            time.sleep(0.2)
        assert len(photos) == 2
    finally:
        process.send_signal(signal.SIGINT)
        _, stderr = process.communicate(timeout=30)
    assert "Traceback" not in stderr
    verify = [*ADMIN, "evidence", "verify", *map(str, photos), "--ca", str(ca),
              "--locker", "LK-DEMO-001", "--audit-db", str(data / "agent.db")]  # fmt: skip
    done = subprocess.run(verify, capture_output=True, text=True, check=False, timeout=60)
    assert done.returncode == 0, done.stdout + done.stderr
    verdicts = [json.loads(line) for line in done.stdout.splitlines()]
    assert [v["valid"] for v in verdicts] == [True, True]
    assert {v["evidence"]["event"] for v in verdicts} == {"return_dropoff"}
    tampered = tmp_path / "tampered.jpg"
    raw = bytearray(photos[0].read_bytes())
    raw[len(raw) // 2] ^= 0x01
    tampered.write_bytes(bytes(raw))
    refused = subprocess.run(
        [*ADMIN, "evidence", "verify", str(tampered), "--ca", str(ca), "--locker", "LK-DEMO-001"],
        capture_output=True, text=True, check=False, timeout=60,
    )  # fmt: skip
    assert refused.returncode == 4
    assert json.loads(refused.stdout)["valid"] is False
