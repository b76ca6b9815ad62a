"""`locker-agent token check` says what the locker would do now, not only if a token verifies."""

from __future__ import annotations

import asyncio
import json
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

from agent.cli.demo import demo_fleet
from tests.agent.conftest import start_agent

AGENT = [sys.executable, "-m", "agent"]


async def _check(token: str, data_dir: Path, *extra: str) -> tuple[int, dict[str, object]]:
    process = await asyncio.create_subprocess_exec(
        *AGENT,
        "token",
        "check",
        token,
        "--data-dir",
        str(data_dir),
        *extra,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await process.communicate()
    assert process.returncode is not None
    assert b"Traceback" not in err, err
    return process.returncode, json.loads(out)


async def test_a_token_spent_at_this_locker_is_reported_spent(tmp_path: Path) -> None:
    data = tmp_path / "data"
    fleet = await asyncio.to_thread(demo_fleet, data, time.time())
    running = await start_agent(data, fleet=fleet)
    try:
        token = running.orders[0].token
        assert token is not None
        status, report = await _check(token, data)
        assert (status, report["valid"]) == (0, True)
        assert report["locker"] == {
            "database": True,
            "spent": False,
            "spent_at": None,
            "order_state": "loaded",
            "door": running.orders[0].door,
        }

        assert (await running.post("/api/v1/pickup/scan", {"payload": token}))[0] == 200
        status, report = await _check(token, data)
        assert (status, report["valid"], report["reason"]) == (4, False, "ALREADY_USED")
        assert report["token_valid"] is True
        locker = report["locker"]
        assert isinstance(locker, dict)
        assert (locker["spent"], locker["order_state"]) == (True, "collected")

        # a token for an order this locker does not hold
        other = fleet.mint_pickup("ORD-NOT-HERE", now=running.clock.now(), hold_s=3600)
        status, report = await _check(other, data)
        assert (status, report["reason"]) == (4, "ORDER_UNKNOWN")
    finally:
        await running.close()


async def test_without_a_database_the_configured_bundle_sets_the_clock_floor(
    tmp_path: Path,
) -> None:
    now = time.time()
    fleet = await asyncio.to_thread(demo_fleet, tmp_path, now)
    token = fleet.mint_pickup("ORD-CLI-2", now=now - 1800, hold_s=86400)
    before_bundle = datetime.fromtimestamp(now - 1200, UTC).isoformat()
    status, report = await _check(token, tmp_path, "--at", before_bundle)
    assert (status, report["reason"]) == (4, "CLOCK_UNTRUSTED")  # the agent would refuse too
    status, report = await _check(token, tmp_path)
    assert (status, report["valid"], report["locker"]) == (0, True, {"database": False})
