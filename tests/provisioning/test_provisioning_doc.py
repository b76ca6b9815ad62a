"""docs/provisioning.md runs as written: its `sh` blocks in order, in one shell, in an empty folder.

Nothing is edited on the way: the blocks are joined and run with `bash -e -o pipefail`, with the
project's virtualenv first on the PATH (what the doc asks for). The doc makes its own hub
database on the machine's PostgreSQL and starts its own enrollment service, Mosquitto (TLS client
certificates), agent and hub; whatever is still running at the end (a failed run) is stopped by its
pid file and the database is dropped. The check: the locker enrolled from an invite, handed the
parcel out, the hub holds the pickup event, and the revoked locker's certificate no longer opens
the broker while an alarm names it.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DOC = ROOT / "docs" / "provisioning.md"
_BLOCK = re.compile(r"^```sh\n(.*?)^```$", re.MULTILINE | re.DOTALL)
_LOGS = ("hub.log", "locker/agent.log", "enroll-service.log")
_PID_FILES = ("hub.pid", "locker/agent.pid", "enroll-service.pid", "site/mosquitto.pid")

pytestmark = pytest.mark.timeout(420)


def doc_blocks() -> list[str]:
    return _BLOCK.findall(DOC.read_text(encoding="utf-8"))


def test_the_doc_has_its_steps_and_no_placeholders() -> None:
    blocks = doc_blocks()
    assert len(blocks) >= 10
    script = "\n".join(blocks)
    steps = ("fleet init", "createdb", "enroll-service", "require_certificate", "device invite",
             "device enroll --csv", "locker-agent enroll", "device approve", "locker-agent run",
             "hub run", "send-order", "courier/load", "pickup/code", "rotate-code-key",
             "rotate --all --fleet", "device revoke", "still connects",
             "DEVICE_REVOKED")  # fmt: skip
    for step in steps:
        assert step in script, step
    assert "mosquitto_passwd -b site/passwd LCK" not in script  # no shared or password login
    assert not re.search(r"<[A-Za-z_ -]+>|\bYOUR_|\bCHANGEME\b|\.\.\.", script)


def _stop_leftovers(folder: Path) -> None:
    for name in _PID_FILES:
        with contextlib.suppress(OSError, ValueError):
            os.kill(int((folder / name).read_text().strip()), signal.SIGTERM)
    with contextlib.suppress(OSError):
        db = (folder / "hub-db.name").read_text().strip()
        subprocess.run(
            ["dropdb", "-h", "127.0.0.1", "-U", "postgres", "--if-exists", "--force", db],
            env={**os.environ, "PGPASSWORD": "postgres"}, capture_output=True, timeout=60,
            check=False,
        )  # fmt: skip


@pytest.mark.slow
def test_following_the_doc_serves_the_first_parcel_and_revokes_the_locker(tmp_path: Path) -> None:
    script = tmp_path / "provisioning.sh"
    script.write_text("\n".join(doc_blocks()), encoding="utf-8")
    env = {
        **{k: v for k, v in os.environ.items() if k != "LOCKER_ADMIN_PASSPHRASE"},
        "PATH": f"{Path(sys.executable).parent}:{os.environ.get('PATH', '')}",
    }
    try:
        run = subprocess.run(
            ["bash", "-e", "-o", "pipefail", str(script)],
            cwd=tmp_path, env=env, capture_output=True, text=True, timeout=400, check=False,
        )  # fmt: skip
    finally:
        _stop_leftovers(tmp_path)
    logs = {p: (tmp_path / p).read_text(errors="replace")[-3000:] for p in _LOGS
            if (tmp_path / p).exists()}  # fmt: skip
    assert run.returncode == 0, f"{run.stdout[-3000:]}\n{run.stderr[-3000:]}\n{logs}"
    pickup = json.loads((tmp_path / "pickup.json").read_text())
    assert pickup["result"] == "open"
    hub = sqlite3.connect(tmp_path / "hub.db")
    try:
        kinds = [r[0] for r in hub.execute(
            "SELECT kind FROM events WHERE device = 'LCK-0001' ORDER BY seq")]  # fmt: skip
    finally:
        hub.close()
    assert "order.loaded" in kinds
    assert "order.collected" in kinds
    assert "audit.key_rotated" in kinds
    enrolled = json.loads((tmp_path / "locker" / "enroll.json").read_text())
    assert enrolled["locker"] == "LCK-0001"
    assert (tmp_path / "locker/data/credentials/device.key.pem").stat().st_mode & 0o777 == 0o600
    # every private key the doc made is encrypted at rest
    for key in (tmp_path / "fleet").rglob("*.key.pem"):
        assert key.read_bytes().startswith(b"-----BEGIN ENCRYPTED PRIVATE KEY-----"), key
