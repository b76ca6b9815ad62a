"""The demo seeds an 18+ order and hands it out to a simulated wallet of a 25-year-old only."""

from __future__ import annotations

import asyncio
import re
import signal
import sys
from pathlib import Path

import aiohttp


async def test_the_demo_hands_the_18_plus_order_to_an_adult_wallet_only(tmp_path: Path) -> None:
    process = await asyncio.create_subprocess_exec(
        *(sys.executable, "-m", "agent", "demo", "--port", "0", "--data-dir", str(tmp_path)),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    assert process.stdout is not None
    try:
        lines: list[str] = []
        while not any("18+ order" in line for line in lines):
            line = (await asyncio.wait_for(process.stdout.readline(), 60)).decode()
            assert line, "the demo ended early"
            lines.append(line)
        url = next(m.group(1) for x in lines if (m := re.search(r"Kiosk: (\S+)", x)))
        order = next(m.group(1) for x in lines if (m := re.search(r"18\+ order (\S+)", x)))
        async with aiohttp.ClientSession() as http:
            async with http.get(url + "api/v1/demo/wallet") as response:
                buttons = (await response.json())["buttons"]
            assert [b["body"] for b in buttons] == [
                {"order": order, "age": 25},
                {"order": order, "age": 16},
            ]
            wallet = url + "api/v1/demo/wallet"
            async with http.post(wallet, json={"order": order, "age": 16}) as response:
                assert response.status == 403
                assert (await response.json())["error"] == "ID_CHECK_FAILED"
            async with http.post(wallet, json={"order": order, "age": 25}) as response:
                assert response.status == 200
                assert (await response.json())["result"] == "open"
    finally:
        process.send_signal(signal.SIGTERM)
        _, stderr = await asyncio.wait_for(process.communicate(), 20)
    assert b"Traceback" not in stderr
    assert process.returncode == 0, stderr.decode()
