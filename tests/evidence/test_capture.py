"""Evidence capture in a running agent: real SQLite, simulated doors and compartment camera,
real C2PA signing; the photos verify, link before to after, and sit in the audit chain."""

from __future__ import annotations

import asyncio
import hashlib
import json
import sqlite3
import stat
import time
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from agent.bootstrap.app import Agent, DoorHardware
from agent.cli.demo import seed_orders
from agent.domain.clock import ManualClock
from agent.domain.doors import DoorSize
from agent.evidence.recorder import EVIDENCE_FOLDER
from agent.evidence.verify import verify_photo
from agent.store.journal import audit_digest
from hardware.camera.compartment_sim import Parcel
from hardware.doors.sim import SimulatedLocker
from tests.agent.ops.conftest import ops_config
from tests.contract.schemas import problems
from tests.evidence.conftest import LOCKER, EvidenceLocker
from tests.hub_sync.conftest import wait_for


async def test_a_load_is_photographed_before_and_after_and_both_verify(
    locker: EvidenceLocker,
) -> None:
    ticket = await locker.agent.loading.start_load("PCL:ORD-E1:P1", DoorSize.S, actor="courier-1")
    photos = await locker.photos()
    assert [(p["event"], p["door"], p["occupied"]) for p in photos] == [
        ("courier_load", ticket.door, 0)  # the first photo of a door is its empty reference
    ]
    locker.camera.place(ticket.door, Parcel("box", 3))
    await locker.close_when_seen_open(ticket.door)

    async def two() -> bool:
        return len(await locker.photos()) == 2

    await wait_for(two, 10, "the after photo")
    before, after = await locker.photos()
    assert after["before_id"] == before["id"]
    assert after["occupied"] == 1
    assert after["order_ref"] == "ORD-E1"
    for photo in (before, after):
        path = locker.folder / str(photo["file"])
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
        data = path.read_bytes()
        assert hashlib.sha256(data).hexdigest() == photo["sha256"]
        verdict = verify_photo(data, locker.ca_pem, LOCKER)
        assert verdict.valid, verdict
        assert verdict.facts["event"] == "courier_load"
        assert verdict.facts["audit"]["seq"] == photo["audit_seq"]


async def test_the_manifest_chain_link_matches_the_audit_log_and_the_log_holds_the_photo(
    locker: EvidenceLocker,
) -> None:
    grant = await locker.agent.returns.start_return_dropoff(
        "RET-E1", DoorSize.S, now=locker.agent.clock.now(), via="token"
    )
    assert grant.door is not None
    (photo,) = await locker.photos()
    facts = verify_photo(
        (locker.folder / str(photo["file"])).read_bytes(), locker.ca_pem, LOCKER
    ).facts
    assert facts["order_ref"] == "RET-E1"

    def audit(conn: sqlite3.Connection) -> list[tuple[Any, ...]]:
        return conn.execute(
            "SELECT seq, at, actor, action, order_id, door, detail, prev_hash, hash FROM audit"
            " ORDER BY seq"
        ).fetchall()

    rows = await locker.agent.db.read(audit)
    by_seq = {int(r[0]): r for r in rows}
    linked = by_seq[facts["audit"]["seq"]]
    assert bytes(linked[8]).hex() == facts["audit"]["hash"]  # the photo names a real entry
    assert linked[3] == "return.dropped_off"  # ... the event it documents
    seq, at, actor, action, order_id, door, detail, prev_hash, digest = linked
    recomputed = audit_digest(
        bytes(prev_hash), seq=seq, at=at, actor=actor, action=action, order_id=order_id,
        door=door, detail_json=detail,
    )  # fmt: skip
    assert recomputed == bytes(digest)
    captured = [r for r in rows if r[3] == "evidence.captured"]
    assert json.loads(captured[-1][6])["sha256"] == photo["sha256"]
    assert int(captured[-1][0]) > facts["audit"]["seq"]
    outbox = await locker.agent.db.read(
        lambda conn: conn.execute(
            "SELECT body FROM outbox WHERE kind = 'evidence.captured'"
        ).fetchall()
    )
    assert [json.loads(r[0])["sha256"] for r in outbox] == [photo["sha256"]]
    for row in outbox:  # what the hub receives matches docs/asyncapi.yaml
        pointer = "#/components/schemas/event.evidence.captured"
        assert await asyncio.to_thread(problems, pointer, json.loads(row[0])) == []


async def test_a_staff_photo_of_an_empty_door_is_judged_empty(locker: EvidenceLocker) -> None:
    ticket = await locker.agent.loading.start_load("PCL:ORD-E2:P1", DoorSize.S, actor="courier-1")
    await locker.close_when_seen_open(
        ticket.door
    )  # the courier changed their mind: nothing went in

    async def two() -> bool:
        return len(await locker.photos()) == 2

    await wait_for(two, 10, "the after photo")
    assert [p["occupied"] for p in await locker.photos()] == [0, 0]
    photo_id = await locker.agent.evidence.photograph(
        "staff", door=ticket.door, order_ref=None, actor="staff-1"
    )
    assert photo_id is not None
    photos = await locker.photos()
    assert (photos[-1]["event"], photos[-1]["occupied"]) == ("staff", 0)


async def test_no_photo_when_the_policy_is_off(tmp_path: Path) -> None:
    config = ops_config(tmp_path / "data", "locker")  # evidence.enabled defaults to false
    sim = SimulatedLocker(len(config.doors.layout()))
    agent = Agent(config, clock=ManualClock(time.time()), hardware=DoorHardware(sim, sim))
    await agent.start()
    try:
        await agent.loading.start_load("PCL:ORD-E3:P1", DoorSize.S, actor="courier-1")
        count = await agent.db.read(
            lambda conn: conn.execute("SELECT COUNT(*) FROM evidence_photos").fetchone()[0]
        )
        assert count == 0
        assert not (tmp_path / "data" / EVIDENCE_FOLDER).exists()
    finally:
        await agent.stop()


async def test_a_customers_door_did_not_open_report_is_photographed(
    locker: EvidenceLocker,
) -> None:
    agent = locker.agent
    (order, *_) = await agent.db.run(
        seed_orders, agent.typed_code_secret, now=agent.clock.now(), hold_s=86400
    )
    locker.sim.faults(order.door).jammed = True
    async with aiohttp.ClientSession() as http:
        url = str(agent.url).rstrip("/")
        async with http.post(f"{url}/api/v1/pickup/code", json={"code": order.code}) as answer:
            assert answer.status == 200
        async with http.post(
            f"{url}/api/v1/pickup/door-did-not-open", json={"code": order.code}
        ) as answer:
            assert answer.status == 200
    photos = await locker.photos()
    assert [(p["event"], p["door"], p["order_ref"]) for p in photos] == [
        ("door_not_opened", order.door, order.order_id)
    ]
    verdict = verify_photo(
        (locker.folder / str(photos[0]["file"])).read_bytes(), locker.ca_pem, LOCKER
    )
    assert verdict.valid, verdict
    assert verdict.facts["event"] == "door_not_opened"


@pytest.mark.parametrize("locker", [{"budget_mb": 0.1, "alarm_percent": 50}], indirect=True)
async def test_the_budget_prunes_uploaded_photos_oldest_first_and_stops_before_the_disk_fills(
    locker: EvidenceLocker,
) -> None:
    agent, recorder = locker.agent, locker.agent.evidence
    clock = agent.clock
    assert isinstance(clock, ManualClock)
    taken = []
    while (photo := await recorder.photograph("staff", door=1, order_ref=None)) is not None:
        taken.append(photo)
        clock.advance(60)
        assert len(taken) < 50
    # photos the hub does not have are never deleted: the budget (100 KiB) is full, no more
    assert len(taken) >= 2
    photos = await locker.photos()
    assert [p["id"] for p in photos] == taken
    assert sum(int(str(p["bytes"])) for p in photos) >= 0.1 * 2**20
    alarms = await _bodies(locker, "evidence.budget_alarm")
    assert alarms == [{"active": True, "used_bytes": alarms[0]["used_bytes"],
                      "budget_bytes": 104857}]  # fmt: skip

    # the hub confirms the two oldest (the upload is not built: the row is marked as it would)
    def confirm(conn: sqlite3.Connection) -> None:
        conn.execute("UPDATE evidence_photos SET uploaded_at = ? WHERE id IN (?, ?)",
                     (clock.now(), taken[0], taken[1]))  # fmt: skip

    await agent.db.run(confirm)
    assert await recorder.photograph("staff", door=1, order_ref=None) is not None
    photos = await locker.photos()
    pruned = [p["id"] for p in photos if p["pruned_at"] is not None]
    assert pruned[0] == taken[0]  # oldest uploaded first
    assert set(pruned) <= {taken[0], taken[1]}
    for row in photos:
        on_disk = (locker.folder / str(row["file"])).exists()
        assert on_disk is (row["pruned_at"] is None)
    pruned_events = await _bodies(locker, "evidence.pruned")
    assert sum(int(str(b["photos"])) for b in pruned_events) == len(pruned)


async def _bodies(locker: EvidenceLocker, kind: str) -> list[dict[str, object]]:
    rows = await locker.agent.db.read(
        lambda conn: conn.execute("SELECT body FROM outbox WHERE kind = ?", (kind,)).fetchall()
    )
    bodies = [json.loads(r[0]) for r in rows]
    for body in bodies:
        assert await asyncio.to_thread(problems, f"#/components/schemas/event.{kind}", body) == []
    return bodies


async def test_a_door_believed_occupied_never_becomes_the_empty_reference(
    locker: EvidenceLocker,
) -> None:
    locker.camera.place(5, Parcel("box", 8))  # the order's first parcel, loaded before
    await locker.agent.evidence.door_opened("courier_load", door=5, order_ref="ORD-Z", empty=False)
    assert not (locker.folder / "reference" / "door-5.png").exists()
    (before,) = await locker.photos()
    assert before["occupied"] is None  # nothing to compare with yet
