"""The real agent and a real Mosquitto (the integration fixtures), met by `mini_hub.MiniHub`."""

from __future__ import annotations

import asyncio
import secrets
import time
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest

from agent.bootstrap.app import Agent, DoorHardware
from agent.domain.clock import ManualClock
from hardware.doors.sim import SimulatedLocker
from provisioning.fleet import DemoFleet
from tests.agent.conftest import RunningAgent
from tests.contract.mini_hub import MiniHub, load_sign_key
from tests.hub_sync.conftest import HUB_PASSWORD, HUB_USER
from tests.integration.conftest import (
    AGENT_ID,
    FLEET,
    Broker,
    agent_config,
    broker,
    fleet,
    hub_config,
    idle_broker,
    wait_for,
)

__all__ = ["AGENT_ID", "FLEET", "broker", "fleet", "idle_broker"]


@pytest.fixture
async def mini_hub(broker: Broker, fleet: DemoFleet) -> AsyncIterator[MiniHub]:
    """The doc-built hub, signing with the fleet's command key read from its PEM file."""
    key = load_sign_key(await asyncio.to_thread(fleet.command_key_path.read_bytes))
    hub = MiniHub("127.0.0.1", broker.port, HUB_USER, HUB_PASSWORD, FLEET, sign_key=key)
    await asyncio.to_thread(hub.start)
    try:
        yield hub
    finally:
        await asyncio.to_thread(hub.stop)


async def start_linked_agent(
    folder: Path, broker: Broker, fleet: DemoFleet, **hub: object
) -> RunningAgent:
    """The real agent (demo config, typed-code key from an enrollment-style key file, `hub`
    settings overridden), connected to the broker."""
    config = agent_config(folder / "data", hub_config(broker, folder / "secrets"), fleet)
    typed = config.typed_codes.model_copy(update={"key_file": await typed_code_key(folder)})
    config = config.model_copy(
        update={"typed_codes": typed, "hub": config.hub.model_copy(update=hub)}
    )
    sim = SimulatedLocker(len(config.doors.layout()))
    clock = ManualClock(time.time())
    agent = Agent(config, clock=clock, hardware=DoorHardware(sim, sim))
    await agent.start()
    stop = asyncio.Event()
    serving = asyncio.create_task(agent.serve(stop), name="test.agent-serve")
    running = RunningAgent(agent, sim, clock, aiohttp.ClientSession(), [], stop, serving)
    sync = running.agent.sync
    assert sync is not None
    await wait_for(lambda: sync.stats().connected, 10, "the agent to connect")
    return running


@pytest.fixture
async def linked_agent(
    tmp_path: Path, broker: Broker, fleet: DemoFleet, mini_hub: MiniHub
) -> AsyncIterator[RunningAgent]:
    """The real agent with default hub settings, online (after the mini hub, which so sees the
    agent's first messages)."""
    del mini_hub
    running = await start_linked_agent(tmp_path, broker, fleet)
    try:
        yield running
    finally:
        await running.close()


KEY_FILE = "typed-code.key"


async def typed_code_key(folder: Path) -> Path:
    """A typed-code key file as `locker-admin device enroll` writes it: 32 random bytes, hex."""
    path = folder / "secrets" / KEY_FILE
    await asyncio.to_thread(path.parent.mkdir, parents=True, exist_ok=True)
    await asyncio.to_thread(path.write_text, secrets.token_hex(32) + "\n")
    return path
