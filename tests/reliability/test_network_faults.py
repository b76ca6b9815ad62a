"""The agent's link to a real Mosquitto through a faulty network (see `netlab` for what is made by
the kernel here and what in user space): 30 % loss, 2 s latency, a partition longer than the
drain alarm, a link that flaps every couple of seconds. Events are recorded all the while; at the
end the hub holds each exactly once, in order, the agent's outbox is empty, and the drain alarm
was raised while the partition lasted and cleared after it.
"""

from __future__ import annotations

import asyncio
import itertools
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import replace
from pathlib import Path

import aiohttp
import pytest

from agent.bootstrap.app import Agent, DoorHardware
from agent.config.hub import HubConfig
from agent.domain.clock import SystemClock
from agent.store import journal
from hardware.doors.sim import SimulatedLocker
from hub_sync.hub.reference.hub import Hub
from hub_sync.hub.reference.store import HubStore
from provisioning.fleet import create_demo_fleet
from tests.integration.conftest import (
    AGENT_ID,
    FLEET,
    agent_config,
    agent_device_key,
    hub_events,
    wait_for,
)
from tests.reliability.netlab import DelayRelay, NetLab, can_build_namespaces

DRAIN_ALARM_S = 3.0
KIND = "test.netfault"


@pytest.fixture
def lab(tmp_path: Path) -> Iterator[NetLab]:
    why = can_build_namespaces()
    if why is not None:
        pytest.fail(f"network namespaces unavailable: {why}")
    with NetLab(tmp_path) as built:
        built.add_device(AGENT_ID, "pw-agent")
        built.start_broker()
        yield built


@pytest.fixture
async def relay(lab: NetLab) -> AsyncIterator[DelayRelay]:
    assert lab.broker is not None
    r = DelayRelay((lab.broker_host, lab.broker.port))
    await r.start()
    try:
        yield r
    finally:
        await r.close()


class Traffic:
    """Records numbered events through the agent's own journal, as services do."""

    def __init__(self, agent: Agent) -> None:
        self._agent = agent
        self._n = itertools.count()
        self.recorded = 0

    async def run_for(self, seconds: float, per_s: float = 20) -> None:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            n = next(self._n)
            await self._agent.db.run(journal.record, KIND, {"n": n}, now=time.time())
            self.recorded = n + 1
            await asyncio.sleep(1 / per_s)


async def _drained(agent: Agent, traffic: Traffic, hub_db: Path, within_s: float) -> None:
    async def done() -> bool:
        stats = agent.sync.stats() if agent.sync else None
        stored = await asyncio.to_thread(hub_events, hub_db, AGENT_ID)
        ours = [e for e in stored if e.kind == KIND]
        return stats is not None and stats.outbox_depth == 0 and len(ours) >= traffic.recorded

    await wait_for(done, within_s, "the outbox to drain to the hub")


@pytest.mark.netns
@pytest.mark.slow
@pytest.mark.timeout(300)
async def test_loss_latency_partition_and_flapping_lose_and_double_nothing(
    tmp_path: Path, lab: NetLab, relay: DelayRelay
) -> None:
    assert lab.broker is not None
    fleet = create_demo_fleet(tmp_path / "fleet", AGENT_ID, time.time())
    password = tmp_path / "secrets" / "mqtt-password"
    password.parent.mkdir()
    password.write_text("pw-agent\n")
    password.chmod(0o600)
    hub_cfg = HubConfig(
        url=f"mqtt://127.0.0.1:{relay.port}", fleet=FLEET, username=AGENT_ID,
        password_file=password, keepalive_s=5, drain_alarm_minutes=DRAIN_ALARM_S / 60,
    )  # fmt: skip
    config = agent_config(tmp_path / "data", hub_cfg, fleet)
    sim = SimulatedLocker(len(config.doors.layout()))
    agent = Agent(config, clock=SystemClock(), hardware=DoorHardware(sim, sim))
    await agent.start()
    stop = asyncio.Event()
    serving = asyncio.create_task(agent.serve(stop), name="netfault-agent")
    settings = lab.broker.hub_settings()
    settings = replace(settings, connect=replace(settings.connect, host=lab.hub_host))
    hub_store = HubStore(tmp_path / "hub.db")
    # the agent's device key: it signs its events (the hub refuses others)
    hub_store.add_device_key(FLEET, AGENT_ID, agent_device_key(tmp_path / "data"), time.time())
    hub = Hub(settings, hub_store, sign_key=fleet.command_key)
    hub_task = asyncio.create_task(hub.run(), name="netfault-hub")
    traffic = Traffic(agent)
    hub_db = tmp_path / "hub.db"
    alarm_seen = False
    try:
        async with asyncio.timeout(10):
            await hub.connected.wait()
        assert agent.sync is not None
        sync = agent.sync
        await wait_for(lambda: sync.stats().connected, 15, "the agent to connect")

        # 30 % loss both ways (kernel: iptables statistic on the broker's side)
        await asyncio.to_thread(lab.loss, 0.3)
        await traffic.run_for(6)
        await asyncio.to_thread(lab.loss, None)
        await _drained(agent, traffic, hub_db, 60)

        # 2 s latency each way (user space relay; netem is missing on this kernel)
        relay.delay_s = 2.0
        await traffic.run_for(5)
        await _drained(agent, traffic, hub_db, 60)
        relay.delay_s = 0.0

        # partition: the agent's veth goes down for several drain-alarm periods
        await asyncio.to_thread(lab.link, False)
        deadline = time.monotonic() + 4 * DRAIN_ALARM_S
        while time.monotonic() < deadline:
            await traffic.run_for(0.5)
            alarm_seen |= sync.stats().drain_alarm
        assert alarm_seen, "no drain alarm while the partition outlasted it (stats, /metrics)"
        async with aiohttp.ClientSession() as http:
            assert agent.url is not None
            async with http.get(agent.url.rstrip("/") + "/metrics") as response:
                assert "locker_outbox_drain_alarm 1" in await response.text()
        await asyncio.to_thread(lab.link, True)
        await _drained(agent, traffic, hub_db, 90)
        await wait_for(lambda: not sync.stats().drain_alarm, 30, "the drain alarm to clear")

        # flapping: down 1.5 s, up 2.5 s, for 12 s
        flap_until = time.monotonic() + 12
        while time.monotonic() < flap_until:
            await asyncio.to_thread(lab.link, False)
            await traffic.run_for(1.5)
            await asyncio.to_thread(lab.link, True)
            await traffic.run_for(2.5)
        await _drained(agent, traffic, hub_db, 120)
    finally:
        await asyncio.to_thread(lab.link, True)
        await asyncio.to_thread(lab.loss, None)
        hub_task.cancel()
        await asyncio.gather(hub_task, return_exceptions=True)
        await asyncio.to_thread(hub_store.close)
        stop.set()
        await serving
        await agent.stop()

    stored = await asyncio.to_thread(hub_events, hub_db, AGENT_ID)
    assert [e.seq for e in stored] == list(range(1, len(stored) + 1))  # gapless
    assert len({e.transaction_id for e in stored}) == len(stored)  # each once
    ours = [e.body["n"] for e in stored if e.kind == KIND]
    assert ours == list(range(traffic.recorded)), "lost, doubled or reordered events"
    alarms = [e.body for e in stored if e.kind == "link.drain_alarm"]
    assert {"active": True} in [{"active": a["active"]} for a in alarms]
