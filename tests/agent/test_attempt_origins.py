"""Issue 17: guessing from the network never locks the kiosk's own customers out.

The kiosk's browser reaches the agent over loopback; anything else is the network. The two
spend separate typed-code budgets (and separate packaging budgets), decided by the TCP peer
address, never by a header. These tests bind the API to every address and reach it once over
loopback (the kiosk) and once over this machine's network address (a network client).
"""

from __future__ import annotations

import socket
import time
from collections.abc import AsyncIterator
from pathlib import Path
from urllib.parse import urlsplit

import aiohttp
import pytest

from agent.bootstrap.app import Agent, DoorHardware
from agent.config.model import ApiConfig
from agent.domain.attempts import Origin, budget_scope, origin_of_peer
from agent.domain.clock import ManualClock
from agent.reasons import Reason
from agent.services.attempts import REQUEST_ORIGIN
from agent.services.returns import PACKAGING_POLICY
from hardware.doors.sim import SimulatedLocker
from tests.agent.conftest import RunningAgent, start_agent
from tests.agent.ops.conftest import STAFF_PIN, ops_config

WRONG = "ZZZZ-ZZZZ"


def network_address() -> str:
    """This machine's address on its network (a UDP 'connect' sends nothing)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        probe.connect(("192.0.2.1", 9))  # TEST-NET-1: only picks the outgoing interface
        address: str = probe.getsockname()[0]
    assert origin_of_peer(address) is Origin.NETWORK, address
    return address


class TwoSides:
    """One agent, reached as the kiosk (loopback) and as a network client."""

    def __init__(self, running: RunningAgent) -> None:
        self.running = running
        port = urlsplit(running.url).port
        self.kiosk = f"http://127.0.0.1:{port}"
        self.network = f"http://{network_address()}:{port}"

    async def post(
        self, base: str, path: str, body: object, headers: dict[str, str] | None = None
    ) -> tuple[int, dict[str, str]]:
        async with self.running.http.post(base + path, json=body, headers=headers) as response:
            answer = await response.json()
            return response.status, {
                **answer,
                "retry_after": response.headers.get("Retry-After", ""),
            }


@pytest.fixture
async def sides(tmp_path: Path) -> AsyncIterator[TwoSides]:
    running = await start_agent(tmp_path / "data", api_host="0.0.0.0")  # noqa: S104
    try:
        yield TwoSides(running)
    finally:
        await running.close()


async def _spend_network_daily_budget(sides: TwoSides) -> int:
    """Guess from the network at the fastest rate allowed until waits exceed a minute."""
    failures = 0
    for _ in range(400):
        status, body = await sides.post(sides.network, "/api/v1/pickup/code", {"code": WRONG})
        if status == 404:
            failures += 1
            continue
        assert (status, body["reason"]) == (429, Reason.RATE_LIMITED)
        wait = int(body["retry_after"])
        if wait > 60:
            return failures
        sides.running.clock.advance(wait)
    raise AssertionError("the network's daily budget never ran out")


async def test_network_guessing_never_locks_the_kiosks_customers_out(sides: TwoSides) -> None:
    failures = await _spend_network_daily_budget(sides)
    assert 100 <= failures <= 103  # the network's own daily budget, no more
    # the network is locked out, whatever path it tries and whatever it claims to be
    spoof = {"X-Forwarded-For": "127.0.0.1", "Forwarded": "for=127.0.0.1", "X-Real-IP": "::1"}
    valid = sides.running.orders[0].code
    for path in ("/api/v1/pickup/code", "/api/v1/returns/start"):
        status, body = await sides.post(sides.network, path, {"code": valid}, spoof)
        assert (status, body["reason"]) == (429, Reason.RATE_LIMITED), path
        assert int(body["retry_after"]) > 60
    assert sides.running.sim.pulses == []
    # the kiosk's customer types the valid code and the door opens at once
    status, body = await sides.post(sides.kiosk, "/api/v1/pickup/code", {"code": valid})
    assert status == 200, body
    assert len(sides.running.sim.pulses) == 1
    _, status_body = await sides.running.get("/api/v1/status")
    typed = status_body["typed_codes"]
    assert typed["retry_after_s"] == 0  # type: ignore[index]
    assert typed["network_retry_after_s"] > 60  # type: ignore[index]


async def test_the_kiosks_typos_do_not_spend_the_networks_budget_either(sides: TwoSides) -> None:
    for _ in range(5):
        status, _ = await sides.post(sides.kiosk, "/api/v1/pickup/code", {"code": WRONG})
        assert status == 404
    status, body = await sides.post(sides.kiosk, "/api/v1/pickup/code", {"code": WRONG})
    assert (status, body["retry_after"]) == (429, "12")  # one person's typos: seconds
    status, _ = await sides.post(sides.network, "/api/v1/pickup/code", {"code": WRONG})
    assert status == 404


async def test_a_network_budget_survives_a_restart(tmp_path: Path) -> None:
    running = await start_agent(tmp_path / "data", api_host="0.0.0.0")  # noqa: S104
    try:
        sides = TwoSides(running)
        for _ in range(5):
            status, _ = await sides.post(sides.network, "/api/v1/pickup/code", {"code": WRONG})
            assert status == 404
        clock, code = running.clock, running.orders[0].code
    finally:
        await running.close()
    again = await start_agent(tmp_path / "data", clock, seed=False, api_host="0.0.0.0")  # noqa: S104
    try:
        sides = TwoSides(again)
        status, body = await sides.post(sides.network, "/api/v1/pickup/code", {"code": code})
        assert (status, body["reason"]) == (429, Reason.RATE_LIMITED)
        status, _ = await sides.post(sides.kiosk, "/api/v1/pickup/code", {"code": code})
        assert status == 200
    finally:
        await again.close()


async def test_packaging_from_the_network_spends_the_networks_budget(sides: TwoSides) -> None:
    path = "/api/v1/returns/packaging"
    for _ in range(PACKAGING_POLICY.burst):
        assert (await sides.post(sides.network, path, {}))[0] == 200
    status, body = await sides.post(sides.network, path, {}, {"X-Forwarded-For": "127.0.0.1"})
    assert (status, body["reason"], body["retry_after"]) == (429, Reason.RATE_LIMITED, "60")
    status, body = await sides.post(sides.kiosk, path, {})
    assert status == 200, body


async def test_wrong_pins_from_the_network_do_not_lock_staff_out_of_the_kiosk(
    tmp_path: Path,
) -> None:
    config = ops_config(tmp_path / "data", "locker")
    config = config.model_copy(update={"api": ApiConfig(host="0.0.0.0", port=0)})  # noqa: S104
    sim = SimulatedLocker(len(config.doors.layout()))
    agent = Agent(config, clock=ManualClock(time.time()), hardware=DoorHardware(sim, sim))
    await agent.start()
    try:
        assert agent.url is not None
        port = urlsplit(agent.url).port
        network, kiosk = f"http://{network_address()}:{port}", f"http://127.0.0.1:{port}"
        async with aiohttp.ClientSession() as http:
            statuses = []
            for i in range(8):
                body = {"pin": f"{i:06d}"}
                async with http.post(network + "/api/v1/staff/sign-in", json=body) as answer:
                    statuses.append(answer.status)
            assert statuses == [401] * 5 + [429] * 3
            body = {"pin": STAFF_PIN}
            async with http.post(kiosk + "/api/v1/staff/sign-in", json=body) as answer:
                assert answer.status == 200
    finally:
        await agent.stop()


def test_only_a_loopback_peer_is_the_kiosk() -> None:
    for peer in ("127.0.0.1", "127.8.9.10", "::1", "::ffff:127.0.0.1"):
        assert origin_of_peer(peer) is Origin.KIOSK, peer
    for other in (None, "", "192.0.2.7", "10.0.0.1", "fe80::1%eth0", "::ffff:10.0.0.1", "kiosk"):
        assert origin_of_peer(other) is Origin.NETWORK, other
    assert budget_scope("typed_code", Origin.KIOSK) == "typed_code"  # the budget kept before
    assert budget_scope("typed_code", Origin.NETWORK) == "typed_code:network"


def test_outside_a_request_attempts_spend_the_networks_budget() -> None:
    assert REQUEST_ORIGIN.get() is Origin.NETWORK  # a doubt never grants the kiosk's budget
