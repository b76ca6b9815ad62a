"""schemathesis against the OpenAPI document the running agent serves: no input gives a 5xx.

The agent is the real `locker-agent demo` process (simulated doors and camera); schemathesis
(its CLI, in a subprocess, so the two never share an event loop) generates requests from
`/api/v1/openapi.json` with a staff session, within a time budget. Afterwards the agent's log
must hold no traceback: bad input is answered with a 4xx and a reason, not logged as a crash.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import sys
from pathlib import Path

import aiohttp
import pytest

from tests.hub_sync.conftest import free_port

BUDGET_S = int(os.environ.get("HTTP_FUZZ_SECONDS", "35"))


async def _demo(tmp_path: Path, port: int) -> tuple[asyncio.subprocess.Process, str]:
    with (tmp_path / "agent.log").open("wb") as log:
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "agent", "demo", "--port", str(port), "--json",
            "--data-dir", str(tmp_path / "demo"),
            stdout=asyncio.subprocess.PIPE, stderr=log,
        )  # fmt: skip
    assert proc.stdout is not None
    pin = ""
    async with asyncio.timeout(60):
        while not pin:
            line = await proc.stdout.readline()
            assert line, "the demo exited before it was ready"
            if line.startswith(b"{"):
                doc = json.loads(line)
                if doc.get("role") == "staff":
                    pin = str(doc["pin"])
    return proc, pin


@pytest.mark.slow
@pytest.mark.timeout(240)
async def test_schemathesis_finds_no_server_error(tmp_path: Path) -> None:
    st = shutil.which("st", path=str(Path(sys.executable).parent))
    assert st is not None, "schemathesis is a dev dependency: make install"
    port = free_port()
    proc, pin = await _demo(tmp_path, port)
    base = f"http://127.0.0.1:{port}"
    try:
        async with (
            aiohttp.ClientSession() as http,
            http.post(f"{base}/api/v1/staff/sign-in", json={"pin": pin}) as response,
        ):
            assert response.status == 200
            session = (await response.json())["session"]
        fuzz = await asyncio.create_subprocess_exec(
            st, "run", f"{base}/api/v1/openapi.json", "--checks", "not_a_server_error",
            "--max-time", str(BUDGET_S), "--max-examples", "25", "--workers", "1",
            "--header", f"Authorization: Bearer {session}", "--seed", "17",
            # signing out would end the session the rest of the run fuzzes with
            "--exclude-path", "/api/v1/staff/sign-out",
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
            cwd=tmp_path,
        )  # fmt: skip
        out, _ = await fuzz.communicate()
        report = out.decode(errors="replace")
        print(report[-3000:])
    finally:
        proc.terminate()
        await proc.wait()
    assert "passed" in report, report[-3000:]
    assert fuzz.returncode == 0, f"server errors found:\n{report[-4000:]}"
    log = (tmp_path / "agent.log").read_text(errors="replace")
    assert "Traceback" not in log, log[-3000:]
