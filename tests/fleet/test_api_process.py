"""`locker-hub api` as a process: serves OpenAPI and /metrics, guards /v1, stops on SIGTERM."""

from __future__ import annotations

import asyncio
import signal
import subprocess
import sys
from pathlib import Path

import aiohttp

from hub_sync.hub.cluster import free_ports
from provisioning.keyfiles import generate_key, write_key_pair
from tests.fleet.conftest import FLEET
from tests.hub_sync.conftest import wait_for


async def test_locker_hub_api_serves_guards_and_stops(
    dsn: str, sign_key_file: Path, tmp_path: Path
) -> None:
    write_key_pair(tmp_path / "issuing.key.pem", tmp_path / "issuing.pub.pem", generate_key())
    (tmp_path / "enrolled").mkdir()
    (tmp_path / "api.key").write_text("secret-key\n")
    port = free_ports(1)[0]
    proc = subprocess.Popen(  # noqa: ASYNC220 (a non-blocking start)
        [sys.executable, "-m", "provisioning.hub_main", "api", "--fleet", FLEET, "--dsn", dsn,
         "--sign-key", str(sign_key_file), "--issuing-key", str(tmp_path / "issuing.key.pem"),
         "--enrolled", str(tmp_path / "enrolled"), "--api-key-file", str(tmp_path / "api.key"),
         "--port", str(port)],
        stderr=subprocess.PIPE,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    try:
        async with aiohttp.ClientSession() as http:

            async def up() -> bool:
                try:
                    async with http.get(url + "/openapi.json") as r:
                        return r.status == 200
                except aiohttp.ClientError:
                    return False

            await wait_for(up, 30, "the API")
            async with http.post(url + "/v1/orders", json={}) as r:
                assert r.status == 401
            headers = {"Authorization": "Bearer secret-key"}
            async with http.post(url + "/v1/orders", json={"order_id": "o"}, headers=headers) as r:
                assert (r.status, (await r.json())["reason"]) == (400, "BAD_REQUEST")
            async with http.get(url + "/metrics") as r:
                assert r.status == 200
        proc.send_signal(signal.SIGTERM)
        assert await asyncio.to_thread(proc.wait, 15) == 0
        assert proc.stderr is not None
        assert b"Traceback" not in await asyncio.to_thread(proc.stderr.read)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(5)
        if proc.stderr is not None:
            proc.stderr.close()
