"""The one typed-code limiter: atomic with the lookup, shared by every path, persisted."""

from __future__ import annotations

import asyncio
from pathlib import Path

import aiohttp
import pytest

from agent.bootstrap.app import Agent, DoorHardware
from agent.reasons import Reason
from hardware.doors.sim import SimulatedLocker
from tests.agent.conftest import RunningAgent, start_agent
from tests.agent.ops.conftest import STAFF_PIN, OpsAgent, ops_config, start_ops_agent

WRONG = "ZZZZ-ZZZZ"


async def _post(
    running: RunningAgent, path: str, code: str, http: aiohttp.ClientSession | None = None
) -> tuple[int, dict[str, str]]:
    http = http or running.http
    async with http.post(running.url + path, json={"code": code}) as response:
        body = await response.json()
        return response.status, {**body, "retry_after": response.headers.get("Retry-After", "")}


# 200 requests driven from the loop the agent serves on: under two test workers the callback that
# crossed 0.25 s was the test's own client (`_post`); the handlers' own blocking is what the
# other tests of this suite bound at 0.25 s
@pytest.mark.loop_guard(1.0)
async def test_200_concurrent_guesses_evaluate_no_more_codes_than_the_budget(
    running: RunningAgent,
) -> None:
    paths = ("/api/v1/pickup/code", "/api/v1/pickup/door-did-not-open", "/api/v1/returns/start")
    codes = [f"ZZZZ-{i:04d}".replace("0", "Z")[:9] for i in range(200)]
    # 20 connections at a time (the server caps connections; see test_http_hostile)
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=20)) as http:
        tasks = []
        for i, code in enumerate(codes):  # started in small steps: the loop guard watches
            tasks.append(asyncio.create_task(_post(running, paths[i % 3], code, http)))
            if i % 10 == 9:
                await asyncio.sleep(0)
        results = await asyncio.gather(*tasks)
    evaluated = [b for s, b in results if s == 404]
    limited = [b for s, b in results if s == 429]
    assert len(evaluated) == 5  # the burst, across the three paths together
    assert len(limited) == 195
    assert all(b["reason"] == Reason.RATE_LIMITED for b in limited)
    assert running.sim.pulses == []


async def test_retry_after_is_the_limiters_own_wait_and_a_person_waits_seconds(
    running: RunningAgent,
) -> None:
    for _ in range(5):
        assert (await _post(running, "/api/v1/pickup/code", WRONG))[0] == 404
    status, body = await _post(running, "/api/v1/pickup/code", running.orders[0].code)
    assert (status, body["retry_after"]) == (429, "12")  # a valid code waits too: no bypass
    assert running.sim.pulses == []
    running.clock.advance(5)
    status, body = await _post(running, "/api/v1/pickup/code", running.orders[0].code)
    assert (status, body["retry_after"]) == (429, "7")
    running.clock.advance(7)
    status, _ = await _post(running, "/api/v1/pickup/code", running.orders[0].code)
    assert status == 200  # the next person's valid code, 12 s after someone's typos


async def test_door_did_not_open_is_no_oracle_with_a_budget_of_its_own(
    running: RunningAgent,
) -> None:
    for _ in range(5):
        assert (await _post(running, "/api/v1/pickup/code", WRONG))[0] == 404
    valid = running.orders[1].code
    for path in ("/api/v1/pickup/door-did-not-open", "/api/v1/returns/start"):
        status, body = await _post(running, path, valid)
        assert (status, body["reason"]) == (429, Reason.RATE_LIMITED), path


async def test_the_budget_survives_a_restart(tmp_path: Path) -> None:
    running = await start_agent(tmp_path / "data")
    try:
        for _ in range(5):
            assert (await _post(running, "/api/v1/pickup/code", WRONG))[0] == 404
        code, clock = running.orders[0].code, running.clock
    finally:
        await running.close()
    again = await start_agent(tmp_path / "data", clock, seed=False)
    try:
        status, body = await _post(again, "/api/v1/pickup/code", code)
        assert (status, body["reason"]) == (429, Reason.RATE_LIMITED)
    finally:
        await again.close()


async def test_a_sustained_guesser_meets_the_daily_budget(running: RunningAgent) -> None:
    failures, wait = 0, 0
    for _ in range(400):
        status, body = await _post(running, "/api/v1/pickup/code", WRONG)
        if status == 404:
            failures += 1
            continue
        wait = int(body["retry_after"])
        if wait > 60:
            break
        running.clock.advance(wait)
    # about the daily budget (plus what refilled meanwhile), then minutes between attempts
    assert 100 <= failures <= 103
    assert 60 < wait <= 864
    _, status_body = await running.get("/api/v1/status")
    assert status_body["typed_codes"]["retry_after_s"] > 60  # type: ignore[index]


async def test_wrong_staff_pins_spend_a_persisted_budget_of_their_own(tmp_path: Path) -> None:
    ops = await start_ops_agent(tmp_path / "data")
    try:
        # concurrent guesses cannot check more PINs than the burst (scrypt runs outside the DB)
        answers = await asyncio.gather(
            *(ops.call("POST", "/api/v1/staff/sign-in", {"pin": f"{i:06d}"}) for i in range(30))
        )
        statuses = sorted(status for status, _ in answers)
        assert statuses.count(401) == 5
        assert statuses.count(429) == 25
        clock = ops.clock
        # typed codes have their own budget: a PIN guesser does not lock customers out
        status, _ = await ops.call("POST", "/api/v1/pickup/code", {"code": WRONG})
        assert status == 404
    finally:
        await ops.http.close()
        await ops.agent.stop()
    # the same data after a restart: still limited (start_ops_agent signs in, so by hand)
    config = ops_config(tmp_path / "data", "locker")
    sim = SimulatedLocker(len(config.doors.layout()))
    agent = Agent(config, clock=clock, hardware=DoorHardware(sim, sim))
    await agent.start()
    restarted = OpsAgent(agent, sim, clock, aiohttp.ClientSession())
    try:
        status, body = await restarted.call("POST", "/api/v1/staff/sign-in", {"pin": STAFF_PIN})
        assert (status, body["reason"]) == (429, Reason.RATE_LIMITED)
        clock.advance(12)
        status, _ = await restarted.call("POST", "/api/v1/staff/sign-in", {"pin": STAFF_PIN})
        assert status == 200  # a right PIN gives its attempt back
    finally:
        await restarted.http.close()
        await agent.stop()
