"""A real `locker-agent run` SIGKILLed mid-upload: every evidence photo reaches the hub once, whole.

Real Mosquitto, the reference hub with the C2PA check against the fleet device CA, the agent as a
child process with evidence photos on and 1 KiB chunks (so an upload takes many round trips).
Staff photos are taken over HTTP; the agent is killed while the hub holds part of a photo, then
started again: the upload resumes where the hub's copy ends and every photo is stored once, byte
for byte, and marked uploaded in the agent's database.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import aiohttp

from agent.services.sessions import hash_pin
from hub_sync.hub.photo_ingest import C2paPhotoCheck
from provisioning import device_ca
from provisioning.fleet import DemoFleet, create_demo_fleet
from tests.hub_sync.conftest import FLEET, HUB_PASSWORD, HUB_USER, Broker, free_port, wait_for
from tests.integration.conftest import start_hub, stop_hub
from tests.reliability.chaos_records import AGENT_ID
from tests.reliability.netlab import DelayRelay

STAFF_PIN = "730915"
PHOTOS = 4


class Child:
    def __init__(self, root: Path, config: Path, port: int) -> None:
        self.root, self.config, self.port = root, config, port
        self.proc: subprocess.Popen[bytes] | None = None

    def spawn(self) -> None:
        with (self.root / "agent.log").open("ab") as out:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "agent", "run", "--config", str(self.config)],
                stdout=out, stderr=out, env={**os.environ, "PYTHONUNBUFFERED": "1"},
            )  # fmt: skip

    def kill(self, sig: int = signal.SIGKILL) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(sig)
            self.proc.wait(20)
        self.proc = None

    async def ready(self, http: aiohttp.ClientSession) -> None:
        async def up() -> bool:
            with contextlib.suppress(aiohttp.ClientError, OSError):
                async with http.get(f"http://127.0.0.1:{self.port}/api/v1/health") as r:
                    return r.status == 200
            return False

        await wait_for(up, 30, "the agent to answer")


def _write_config(root: Path, data: Path, mqtt_port: int, api_port: int) -> tuple[Path, DemoFleet]:
    fleet = create_demo_fleet(root / "fleet", AGENT_ID, time.time())
    ca = device_ca.create_ca("fleet-crash", now=time.time())
    device_ca.write_ca(ca, root / "device-ca")
    device_ca.write_device_credentials(ca, AGENT_ID, data, now=time.time())
    secrets = root / "secrets"
    secrets.mkdir()
    (secrets / "mqtt-password").write_text("pw-agent\n")
    (secrets / "typed-code.key").write_text("ab" * 32 + "\n")
    for f in secrets.iterdir():
        f.chmod(0o600)
    roots = ", ".join(f'"{p}"' for p in fleet.root_public_paths)
    config = root / "agent.toml"
    config.write_text(
        f'[locker]\nid = "{AGENT_ID}"\ndata_dir = "{data}"\n\n'
        f'[api]\nhost = "127.0.0.1"\nport = {api_port}\n\n'
        '[camera]\nenabled = false\n\n[doors.driver]\ntype = "simulator"\n\n'
        "[evidence]\nenabled = true\nwidth = 640\nheight = 360\n\n"
        f'[typed_codes]\nkey_file = "{secrets / "typed-code.key"}"\n\n'
        f'[trust]\nroot_keys = [{roots}]\nbundle = "{fleet.bundle_path}"\n\n'
        f'[hub]\nurl = "mqtt://127.0.0.1:{mqtt_port}"\nfleet = "{FLEET}"\n'
        f'username = "{AGENT_ID}"\npassword_file = "{secrets / "mqtt-password"}"\n'
        "photo_chunk_kib = 1\nconfirm_timeout_s = 2\n\n"
        f'[[staff]]\nactor = "staff-1"\nrole = "staff"\npin_hash = "{hash_pin(STAFF_PIN)}"\n',
        encoding="utf-8",
    )
    return config, fleet


def _hub_photos(path: Path) -> dict[str, tuple[str, int, int, bytes | None]]:
    with contextlib.closing(sqlite3.connect(path)) as db:
        rows = db.execute("SELECT photo, status, received, size, data FROM photos").fetchall()
    return {r[0]: (r[1], r[2], r[3], r[4]) for r in rows}


def _agent_photos(path: Path) -> dict[str, bool]:
    with contextlib.closing(sqlite3.connect(path)) as db:
        rows = db.execute("SELECT id, uploaded_at FROM evidence_photos").fetchall()
    return {r[0]: r[1] is not None for r in rows}


async def test_a_sigkill_mid_upload_loses_nothing_and_stores_nothing_twice(tmp_path: Path) -> None:
    (tmp_path / "broker").mkdir()
    broker = Broker(root=tmp_path / "broker", port=free_port())
    broker.passwords = {HUB_USER: HUB_PASSWORD, AGENT_ID: "pw-agent"}
    broker.write_config()
    broker.start()
    data = tmp_path / "data"
    api_port = free_port()
    # the agent reaches the broker through a relay that delays each direction: on a quiet
    # machine the whole upload would otherwise be over before the test could see it half done
    relay = DelayRelay(("127.0.0.1", broker.port))
    relay.delay_s = 0.02
    await relay.start()
    config, demo = await asyncio.to_thread(_write_config, tmp_path, data, relay.port, api_port)
    check = C2paPhotoCheck((tmp_path / "device-ca" / device_ca.CA_CERT_FILE).read_text())
    hub = await start_hub(broker, tmp_path / "hub.db", sign_key=demo.command_key, photo_check=check,
                          agent_data=data)  # fmt: skip
    child = Child(tmp_path, config, api_port)
    base = f"http://127.0.0.1:{api_port}"
    try:
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=20)) as http:
            await asyncio.to_thread(child.spawn)
            await child.ready(http)
            async with http.post(f"{base}/api/v1/staff/sign-in", json={"pin": STAFF_PIN}) as r:
                auth = {"Authorization": f"Bearer {(await r.json())['session']}"}
            for door in range(1, PHOTOS + 1):
                async with http.post(f"{base}/api/v1/staff/doors/{door}/photo", headers=auth) as r:
                    assert r.status == 200, await r.text()

            def partway() -> bool:
                held = _hub_photos(tmp_path / "hub.db")
                return any(0 < v[1] < v[2] for v in held.values())

            await wait_for(partway, 30, "a photo partly at the hub")
            await asyncio.to_thread(child.kill)  # SIGKILL mid-upload
            at_kill = _hub_photos(tmp_path / "hub.db")
            assert sum(v[0] != "partial" for v in at_kill.values()) < PHOTOS
            await asyncio.to_thread(child.spawn)
            await child.ready(http)

            def all_uploaded() -> bool:
                flags = _agent_photos(data / "agent.db")
                return len(flags) == PHOTOS and all(flags.values())

            await wait_for(all_uploaded, 40, "every photo confirmed after the restart")
        held = _hub_photos(tmp_path / "hub.db")
        assert len(held) == PHOTOS
        for photo, (status, received, size, blob) in held.items():
            assert status == "stored"
            assert received == size
            assert blob == (data / "evidence" / f"{photo}.jpg").read_bytes()
    finally:
        await asyncio.to_thread(child.kill)
        await stop_hub(hub)
        await relay.close()
        broker.kill()
