"""A real agent on a real SQLite file and simulated doors, serving HTTP on a free port."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import aiohttp
import pytest

from agent.bootstrap.app import Agent, DoorHardware
from agent.cli.demo import SeededOrder, demo_config, seed_orders
from agent.domain.clock import ManualClock
from agent.identity.proximity import WalletLink
from hardware.camera.sim import SimulatedCamera
from hardware.doors.sim import SimulatedLocker
from provisioning.fleet import DemoFleet


@dataclass
class RunningAgent:
    agent: Agent
    sim: SimulatedLocker
    clock: ManualClock
    http: aiohttp.ClientSession
    orders: list[SeededOrder]
    stop: asyncio.Event
    serving: asyncio.Task[None] | None

    async def close(self) -> None:
        """Stop the long-lived tasks, then the agent (as SIGTERM does)."""
        self.stop.set()
        if self.serving is not None:
            await self.serving
        await self.http.close()
        await self.agent.stop()

    @property
    def url(self) -> str:
        assert self.agent.url is not None
        return self.agent.url.rstrip("/")

    async def post(self, path: str, body: object) -> tuple[int, dict[str, object]]:
        async with self.http.post(self.url + path, json=body) as response:
            return response.status, await response.json()

    async def get(self, path: str) -> tuple[int, dict[str, object]]:
        async with self.http.get(self.url + path) as response:
            return response.status, await response.json()


async def start_agent(
    data_dir: Path,
    clock: ManualClock | None = None,
    *,
    fleet: DemoFleet | None = None,
    camera: SimulatedCamera | None = None,
    seed: bool = True,
    serve: bool = True,
    iaca: Path | None = None,
    wallet_link: WalletLink | None = None,
    api_host: str | None = None,
) -> RunningAgent:
    """An agent on `data_dir`; with `fleet` it trusts that fleet's tokens; with `camera` the
    scanner runs on that simulated camera (otherwise the camera is off, to keep tests light).
    With `serve=False` the long-lived tasks (supervisor, expiry, audit signer) do not run, for
    tests that drive them step by step. `iaca` (the wallet issuers' roots) and `wallet_link`
    set up wallet pickups (docs/identity.md). `api_host` binds the API elsewhere than
    127.0.0.1 (`0.0.0.0` to be reached from the network as well)."""
    config = demo_config(data_dir, port=0, fleet=fleet)
    if api_host is not None:
        config = config.model_copy(update={"api": config.api.model_copy(update={"host": api_host})})
    config = config.model_copy(
        update={"camera": config.camera.model_copy(update={"enabled": camera is not None})}
    )
    if iaca is not None:
        config = config.model_copy(
            update={"identity": config.identity.model_copy(update={"iaca": (iaca,)})}
        )
    clock = clock or ManualClock(time.time())
    sim = SimulatedLocker(len(config.doors.layout()))
    agent = Agent(
        config, clock=clock, hardware=DoorHardware(sim, sim), camera=camera, wallet_link=wallet_link
    )
    await agent.start()
    orders = []
    if seed:
        orders = await agent.db.run(
            seed_orders, agent.typed_code_secret, now=clock.now(), hold_s=3 * 86400, fleet=fleet
        )
    stop = asyncio.Event()
    serving = asyncio.create_task(agent.serve(stop), name="test.agent-serve") if serve else None
    return RunningAgent(agent, sim, clock, aiohttp.ClientSession(), orders, stop, serving)


@pytest.fixture
async def running(tmp_path: Path) -> AsyncIterator[RunningAgent]:
    running = await start_agent(tmp_path / "data")
    try:
        yield running
    finally:
        await running.close()
