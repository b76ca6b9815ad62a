"""A staffed counter whose camera is a simulated one: the counter screen's "check ID document"
and "check wallet" buttons read its current frame. It trusts a simulated wallet issuer's IACA
and renders the MRZ templates from the OCR-B font (as `[identity] mrz_font_dir` does)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import aiohttp
import cv2
import numpy as np
import numpy.typing as npt

from agent.bootstrap.app import Agent, DoorHardware
from agent.domain.clock import ManualClock
from agent.identity.simulated_wallet import (
    MadeUpPerson,
    SimulatedIssuer,
    SimulatedWallet,
    SimulatedWalletLink,
    person_aged,
)
from hardware.camera.sim import SimulatedCamera
from hardware.doors.sim import SimulatedLocker
from tests.agent.ops.conftest import STAFF_PIN, OpsAgent, ops_config
from tests.identity.id_scenes import PERSON as LICENCE
from tests.identity.id_scenes import aamva, photographed
from tests.identity.ocrb import FONT_DIR, counter_frame


@dataclass
class PersonsWallet(SimulatedWallet):
    """A simulated wallet that remembers its made-up person (for the privacy checks)."""

    doc_person: MadeUpPerson | None = None


FPS = 10
FRAME_S = 3 / FPS  # what the camera shows is in its current frame after a few frame periods


@dataclass
class CameraCounter:
    ops: OpsAgent
    camera: SimulatedCamera
    issuer: SimulatedIssuer
    link: SimulatedWalletLink
    folder: Path

    async def show_mrz(self, text: str, seed: int) -> None:
        """The document under the camera: a rendered, photographed MRZ (off the loop)."""
        await self._show(lambda: counter_frame(text, seed), f"mrz-{seed}.png")

    async def show_licence(self, seed: int) -> None:
        await self._show(lambda: photographed(aamva(LICENCE), seed), f"licence-{seed}.png")

    async def _show(self, render: object, name: str) -> None:
        path = self.folder / name

        def write() -> None:
            frame: npt.NDArray[np.uint8] = render()  # type: ignore[operator]
            assert cv2.imwrite(str(path), frame)

        await asyncio.to_thread(write)
        self.camera.show_image(path)
        await asyncio.sleep(FRAME_S)

    def show_wallet(
        self,
        age: int,
        issuer: SimulatedIssuer | None = None,
        *,
        given: str = "Counter",
        family: str = "Tester",
    ) -> PersonsWallet:
        """A phone with that person's PID shows its QR code to the counter camera."""
        now = self.ops.clock.now()
        today = datetime.fromtimestamp(now, UTC).date()
        person = person_aged(age, today=today, given=given, family=family)
        wallet = PersonsWallet((issuer or self.issuer).issue_pid(person, now=now))
        wallet.doc_person = person
        self.camera.show_payload(self.link.show(wallet), carrier="phone")
        return wallet

    async def show_nothing(self) -> None:
        self.camera.show_nothing()
        await asyncio.sleep(FRAME_S)


def _issuer(folder: Path, now: float) -> tuple[SimulatedIssuer, Path]:
    issuer = SimulatedIssuer(now=now)
    iaca = folder / "iaca"
    iaca.mkdir(parents=True)
    (iaca / "sim.pem").write_bytes(issuer.iaca_pem)
    return issuer, iaca


@asynccontextmanager
async def camera_counter(folder: Path, *, camera: bool = True) -> AsyncIterator[CameraCounter]:
    now = time.time()
    issuer, iaca = await asyncio.to_thread(_issuer, folder, now)
    config = ops_config(folder / "data", "counter")
    config = config.model_copy(
        update={
            "camera": config.camera.model_copy(update={"enabled": camera}),
            "identity": config.identity.model_copy(
                update={"iaca": (iaca,), "mrz_font_dir": Path(FONT_DIR)}
            ),
        }
    )
    sim = SimulatedLocker(len(config.doors.layout()))
    sim_camera = SimulatedCamera(fps=FPS)
    sim_camera.show_nothing()
    link = SimulatedWalletLink()
    agent = Agent(
        config,
        clock=ManualClock(now),
        hardware=DoorHardware(sim, sim),
        camera=sim_camera,
        wallet_link=link,
    )
    await agent.start()
    stop = asyncio.Event()
    serving = asyncio.create_task(agent.serve(stop), name="test.counter-serve")
    ops = OpsAgent(agent, sim, agent.clock, aiohttp.ClientSession())  # type: ignore[arg-type]
    try:
        ops.staff = await ops.sign_in(STAFF_PIN)
        yield CameraCounter(ops, sim_camera, issuer, link, folder)
    finally:
        stop.set()
        await serving
        await ops.http.close()
        await agent.stop()
