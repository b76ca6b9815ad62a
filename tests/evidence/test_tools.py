"""`locker-agent evidence list|export` on a running locker's data, and the demo's evidence setup."""

from __future__ import annotations

import json
import time
from pathlib import Path

import aiohttp
import pytest

from agent.bootstrap.app import Agent, DoorHardware
from agent.cli.demo import (
    DEMO_LOCKER_ID,
    DEMO_RETURN,
    demo_config,
    demo_evidence,
    demo_fleet,
    seed_return,
)
from agent.cli.main import main as agent_main
from agent.domain.clock import ManualClock
from agent.domain.doors import DoorSize
from agent.evidence.signing import EvidenceSigner
from agent.evidence.verify import verify_photo
from agent.store.db import Database
from hardware.camera.compartment_sim import Parcel
from hardware.doors.sim import SimulatedLocker
from provisioning import device_ca
from provisioning.cli import main as admin_main
from tests.evidence.conftest import LOCKER, EvidenceLocker
from tests.hub_sync.conftest import wait_for


async def _loaded(locker: EvidenceLocker, order: str) -> None:
    ticket = await locker.agent.loading.start_load(f"PCL:{order}:P1", DoorSize.M, actor="c-1")
    locker.camera.place(ticket.door, Parcel("polybag", 5))
    await locker.close_when_seen_open(ticket.door)

    async def both() -> bool:
        return len([p for p in await locker.photos() if p["order_ref"] == order]) == 2

    await wait_for(both, 10, "before and after photos")


async def test_list_and_export_an_orders_photos_which_then_verify(
    locker: EvidenceLocker, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    await _loaded(locker, "ORD-X1")
    await _loaded(locker, "ORD-X2")
    data_dir = str(locker.folder.parent)
    assert agent_main(["evidence", "list", "--data-dir", data_dir]) == 0
    listed = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [(p["order"], p["occupied"]) for p in listed] == [
        ("ORD-X1", False), ("ORD-X1", True), ("ORD-X2", False), ("ORD-X2", True),
    ]  # fmt: skip
    assert listed[1]["before"] == listed[0]["photo"]
    assert listed[1]["audit"]["action"] == "order.loaded"

    out = tmp_path / "export"
    status = agent_main(
        ["evidence", "export", "--order", "ORD-X2", "--out", str(out), "--data-dir", data_dir]
    )
    assert status == 0
    capsys.readouterr()
    index = json.loads((out / "index.json").read_text())
    assert [p["order"] for p in index] == ["ORD-X2", "ORD-X2"]
    files = [str(out / p["file"]) for p in index]
    ca = locker.folder.parent.parent / "fleet" / device_ca.CA_CERT_FILE
    assert admin_main(["evidence", "verify", *files, "--ca", str(ca), "--locker", LOCKER]) == 0
    verdicts = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [v["valid"] for v in verdicts] == [True, True]

    status = agent_main(
        ["evidence", "export", "--order", "ORD-NONE", "--out", str(out), "--data-dir", data_dir]
    )
    assert status == 4


async def test_verify_checks_the_photo_against_the_lockers_audit_log(
    locker: EvidenceLocker, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    await _loaded(locker, "ORD-Y1")
    photos = [str(locker.folder / str(p["file"])) for p in await locker.photos()]
    ca = str(locker.folder.parent.parent / "fleet" / device_ca.CA_CERT_FILE)
    own_db = str(locker.folder.parent / "agent.db")
    args = ["evidence", "verify", *photos, "--ca", ca, "--locker", LOCKER]
    assert admin_main([*args, "--audit-db", own_db]) == 0
    assert all(json.loads(line)["valid"] for line in capsys.readouterr().out.splitlines())

    other = Database(tmp_path / "other.db")  # another locker's log: the photos are not in it
    await other.open()
    await other.close()
    assert admin_main([*args, "--audit-db", str(tmp_path / "other.db")]) == 4
    reasons = {json.loads(line)["reason"] for line in capsys.readouterr().out.splitlines()}
    assert reasons == {"audit_link_mismatch"}


def test_the_demo_makes_its_device_ca_and_signing_chain_once(tmp_path: Path) -> None:
    config = demo_evidence(tmp_path, time.time())
    assert config.enabled
    ca_pem = (tmp_path / "fleet" / device_ca.CA_CERT_FILE).read_bytes()
    chain = (tmp_path / device_ca.DEVICE_CHAIN_FILE).read_bytes()
    demo_evidence(tmp_path, time.time())  # a restart keeps them
    assert (tmp_path / "fleet" / device_ca.CA_CERT_FILE).read_bytes() == ca_pem
    assert (tmp_path / device_ca.DEVICE_CHAIN_FILE).read_bytes() == chain
    signer = EvidenceSigner.from_files(
        tmp_path / device_ca.DEVICE_KEY_FILE, tmp_path / device_ca.DEVICE_CHAIN_FILE
    )
    assert signer.certificate.subject.rfc4514_string().startswith("CN=LK-DEMO-001")


async def test_the_demos_return_token_drops_off_and_its_photo_verifies(tmp_path: Path) -> None:
    data = tmp_path / "demo"
    now = time.time()
    fleet = demo_fleet(data, now)
    config = demo_config(data, 0, fleet)
    config = config.model_copy(
        update={
            "evidence": demo_evidence(data, now).model_copy(update={"width": 640, "height": 360}),
            "camera": config.camera.model_copy(update={"enabled": False}),
        }
    )
    sim = SimulatedLocker(len(config.doors.layout()))
    agent = Agent(config, clock=ManualClock(now), hardware=DoorHardware(sim, sim))
    await agent.start()
    try:
        token = await agent.db.run(seed_return, fleet, now=now)
        async with (
            aiohttp.ClientSession() as http,
            http.post(f"{agent.url}api/v1/pickup/scan", json={"payload": token}) as answer,
        ):
            body = await answer.json()
            assert answer.status == 200, body
        rows = await agent.db.read(
            lambda conn: conn.execute(
                "SELECT file, order_ref, event FROM evidence_photos"
            ).fetchall()
        )
        assert [(r[1], r[2]) for r in rows] == [(DEMO_RETURN, "return_dropoff")]
        photo = (data / "evidence" / rows[0][0]).read_bytes()
        ca_pem = (data / "fleet" / device_ca.CA_CERT_FILE).read_text()
        assert verify_photo(photo, ca_pem, DEMO_LOCKER_ID).valid
    finally:
        await agent.stop()
