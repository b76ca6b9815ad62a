"""A locker with a wallet reader for the kiosk's wallet screen: a simulated camera, a simulated
issuer whose IACA root the locker trusts, the simulated wallets' link, and one 18+ order."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from agent.cli.demo import DEMO_AGE_ORDERS, SeededOrder, seed_orders
from agent.identity.simulated_wallet import (
    SimulatedIssuer,
    SimulatedWallet,
    SimulatedWalletLink,
    person_aged,
)
from hardware.camera.sim import SimulatedCamera
from provisioning.fleet import DemoFleet, create_demo_fleet
from tests.agent.conftest import RunningAgent, start_agent


@dataclass
class WalletLocker:
    running: RunningAgent
    camera: SimulatedCamera
    issuer: SimulatedIssuer
    link: SimulatedWalletLink
    fleet: DemoFleet
    order: SeededOrder  # the 18+ order (typed code and token)

    def wallet(self, age: int, issuer: SimulatedIssuer | None = None) -> SimulatedWallet:
        now = self.running.clock.now()
        today = datetime.fromtimestamp(now, UTC).date()
        person = person_aged(age, today=today, given="Kiosk", family="Tester")
        return SimulatedWallet((issuer or self.issuer).issue_pid(person, now=now))

    def show_wallet(self, wallet: SimulatedWallet, seed: int = 0) -> None:
        """The phone shows its QR code to the camera (and is reachable for one session)."""
        self.camera.show_payload(self.link.show(wallet), carrier="phone", seed=seed)


def _keys(folder: Path, now: float) -> tuple[DemoFleet, SimulatedIssuer, Path]:
    fleet = create_demo_fleet(folder / "fleet", "LK-DEMO-001", now)
    issuer = SimulatedIssuer(now=now)
    iaca = folder / "iaca"
    iaca.mkdir()
    (iaca / "sim.pem").write_bytes(issuer.iaca_pem)
    return fleet, issuer, iaca


@asynccontextmanager
async def wallet_locker(folder: Path) -> AsyncIterator[WalletLocker]:
    fleet, issuer, iaca = await asyncio.to_thread(_keys, folder, time.time())
    camera = SimulatedCamera(fps=20)
    camera.show_nothing()
    link = SimulatedWalletLink()
    running = await start_agent(
        folder / "data", fleet=fleet, camera=camera, iaca=iaca, wallet_link=link
    )
    try:
        agent = running.agent
        (order,) = await agent.db.run(
            seed_orders,
            agent.typed_code_secret,
            now=running.clock.now(),
            hold_s=86400.0,
            fleet=fleet,
            orders=DEMO_AGE_ORDERS,
        )
        yield WalletLocker(running, camera, issuer, link, fleet, order)
    finally:
        await running.close()
