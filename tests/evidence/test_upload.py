"""Evidence photos reach the hub whole and once, in confirmed chunks, after the events (item 4).

A real locker (C2PA-signed photos in its data folder), a real Mosquitto, the reference hub with
the C2PA check against the fleet device CA: chunks are confirmed one by one, an upload cut by the
device going away or by the hub going away resumes, a photo that fails the check is stored as
rejected with an alarm, and forged acks neither make the device skip a byte nor mark a photo
uploaded.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import shutil
import sqlite3
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric import ed25519

from agent.evidence.upload import StorePhotos
from agent.services.hub_link import StoreOutbox
from agent.store import journal
from hardware.camera.compartment_sim import Parcel
from hub_sync.adapters.mqtt import ConnectParams, Inbound, MqttConnection
from hub_sync.device.outbox import ReferenceDevice
from hub_sync.device.sync import DeviceSync
from hub_sync.hub.photo_ingest import C2paPhotoCheck
from hub_sync.hub.reference.hub import Hub
from hub_sync.hub.reference.store import HubStore
from hub_sync.protocol.photo_wire import PhotoAck, decode_chunk, encode_ack, sign_ack
from hub_sync.protocol.wire import Header, Topics, new_message_id
from tests.contract.schemas import problems
from tests.evidence.conftest import LOCKER, EvidenceLocker
from tests.hub_sync.conftest import (
    DEVICES,
    FLEET,
    HUB_KEY,
    HUB_PASSWORD,
    HUB_USER,
    Broker,
    free_port,
    hub_keys,
    keyed_store,
    reply_key,
    wait_for,
)

CHUNK = 4096


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[Broker]:
    if shutil.which("mosquitto") is None and not Path("/usr/sbin/mosquitto").exists():
        pytest.fail("mosquitto is not installed: run scripts/system-deps.sh")
    root = tmp_path / "broker"
    root.mkdir()
    b = Broker(root=root, port=free_port())
    b.passwords = {HUB_USER: HUB_PASSWORD, LOCKER: "pw-locker", **{d: f"pw-{d}" for d in DEVICES}}
    b.write_config()
    b.start()
    try:
        yield b
    finally:
        b.kill()


@dataclass
class Rig:
    broker: Broker
    locker: EvidenceLocker
    tmp: Path
    store: HubStore
    hub_task: asyncio.Task[None] | None = None
    device_task: asyncio.Task[None] | None = None
    sync: DeviceSync | None = None

    async def start_hub(
        self, enrolled: frozenset[str] = frozenset({LOCKER}), *, photos: bool = True
    ) -> Hub:
        check = C2paPhotoCheck(self.locker.ca_pem, enrolled=enrolled) if photos else None
        hub = Hub(self.broker.hub_settings(), self.store, sign_key=HUB_KEY, photo_check=check)
        self.hub_task = asyncio.create_task(hub.run(), name="test-photo-hub")
        async with asyncio.timeout(10):
            await hub.connected.wait()
        return hub

    async def stop_hub(self) -> None:
        await _cancel(self.hub_task)
        self.hub_task = None

    def start_device(
        self, device: str = LOCKER, photos: StorePhotos | None = None, **settings: object
    ) -> DeviceSync:
        agent = self.locker.agent
        ref = ReferenceDevice(self.tmp / f"sink-{device}.db")
        sync = DeviceSync(
            self.broker.device_settings(device, photo_chunk_bytes=CHUNK, **settings),
            StoreOutbox(agent.db),
            ref,
            ref,
            command_keys=hub_keys,
            clock=time.time,
            photos=photos or StorePhotos(agent.db, self.locker.folder, agent.clock),
            device_key=reply_key(device),
        )
        agent.db.after_commit.append(sync.outbox_changed)
        self.sync = sync
        self.device_task = asyncio.create_task(sync.run(), name="test-photo-device")
        return sync

    async def stop_device(self) -> None:
        await _cancel(self.device_task)
        self.device_task = None

    async def take(self, count: int) -> list[str]:
        ids = []
        for i in range(count):
            self.locker.camera.place(1 + i % 3, Parcel("box", i))
            photo = await self.locker.agent.evidence.photograph(
                "staff", door=1 + i % 3, order_ref=f"ORD-{i}"
            )
            assert photo is not None
            ids.append(photo)
        return ids

    async def uploaded(self) -> dict[str, bool]:
        rows = await self.locker.photos()
        return {str(r["id"]): r["uploaded_at"] is not None for r in rows}

    def file(self, photo: str) -> bytes:
        return (self.locker.folder / f"{photo}.jpg").read_bytes()


class StuckAfter(StorePhotos):
    """The agent's photo source, whose reads hang from `limit` bytes on: an upload that stops
    mid-photo (until the test cancels the device, as a crash would end it)."""

    def __init__(self, locker: EvidenceLocker, limit: int) -> None:
        agent = locker.agent
        super().__init__(agent.db, locker.folder, agent.clock)
        self.limit = limit

    async def read_chunk(self, photo_id: str, offset: int, size: int) -> bytes:
        if offset >= self.limit:
            await asyncio.Event().wait()
        return await super().read_chunk(photo_id, offset, size)


async def _cancel(task: asyncio.Task[None] | None) -> None:
    if task is not None:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


@pytest.fixture
async def rig(broker: Broker, locker: EvidenceLocker, tmp_path: Path) -> AsyncIterator[Rig]:
    store = keyed_store(tmp_path / "hub.db", (LOCKER, "d1"))  # the devices that send here
    r = Rig(broker, locker, tmp_path, store)
    try:
        yield r
    finally:
        await r.stop_device()
        await r.stop_hub()
        await asyncio.to_thread(store.close)


async def test_photos_reach_the_hub_whole_once_and_only_then_count_as_uploaded(rig: Rig) -> None:
    photos = await rig.take(3)
    await rig.start_hub()
    sync = rig.start_device()

    async def all_uploaded() -> bool:
        return all((await rig.uploaded()).values())

    await wait_for(all_uploaded, 40, "every photo to be confirmed")
    chunks = sum(-(-len(rig.file(p)) // CHUNK) for p in photos)
    assert sync.stats().photos_uploaded == 3
    assert sync.stats().photo_chunks >= chunks > 3  # several confirmed chunks per photo
    for photo in photos:
        held = rig.store.photo(FLEET, LOCKER, photo)
        assert held is not None
        assert held[:2] == ("stored", None)
        assert held[2] == rig.file(photo)  # byte for byte, exactly once
    assert rig.store.alarms(FLEET) == []

    def uploaded_events(conn: sqlite3.Connection) -> list[dict[str, object]]:
        rows = conn.execute("SELECT detail FROM audit WHERE action = 'evidence.uploaded'")
        return [json.loads(r[0]) for r in rows]

    events = await rig.locker.agent.db.read(uploaded_events)
    assert sorted(str(e["photo"]) for e in events) == sorted(photos)
    assert all(e["accepted"] is True for e in events)
    pointer = "#/components/schemas/event.evidence.uploaded"
    assert await asyncio.to_thread(problems, pointer, events[0]) == []


async def test_a_photo_sent_by_another_device_is_stored_rejected_with_an_alarm(rig: Rig) -> None:
    # d1 uploads a photo LK-OPS-001 signed: the manifest's locker is not the sending device
    await rig.take(1)
    await rig.start_hub(enrolled=frozenset({LOCKER, "d1"}))
    rig.start_device("d1")

    async def done() -> bool:
        return all((await rig.uploaded()).values())

    await wait_for(done, 40, "the hub's final ack")
    (photo,) = (await rig.uploaded()).keys()
    held = rig.store.photo(FLEET, "d1", photo)
    assert held is not None
    assert held[:2] == ("rejected", "wrong_locker")
    assert rig.store.alarms(FLEET) == [("d1", "EVIDENCE_REJECTED", f"photo {photo}: wrong_locker")]


async def test_uploads_resume_after_the_device_and_after_the_hub_went_away(rig: Rig) -> None:
    (photo,) = await rig.take(1)
    size = len(rig.file(photo))
    await rig.start_hub()
    rig.start_device(photos=StuckAfter(rig.locker, 2 * CHUNK))

    def received() -> int:
        with sqlite3.connect(rig.tmp / "hub.db") as db:
            row = db.execute("SELECT received FROM photos WHERE photo = ?", (photo,)).fetchone()
        return 0 if row is None else int(row[0])

    await wait_for(lambda: received() == 2 * CHUNK, 30, "the first two chunks")
    await rig.stop_device()  # the device goes away mid-upload (its memory of it is gone)
    part = received()
    assert 0 < part < size
    await rig.stop_hub()  # and so does the hub
    resumed = rig.start_device()
    await asyncio.sleep(0.5)  # chunks sent now wait in the broker for the hub's session
    await rig.start_hub()

    async def done() -> bool:
        return all((await rig.uploaded()).values())

    await wait_for(done, 40, "the resumed upload")
    held = rig.store.photo(FLEET, LOCKER, photo)
    assert held is not None
    assert held[0] == "stored"
    assert held[2] == rig.file(photo)
    # the second device sent the rest, not the whole photo again (plus its first probe at 0;
    # a chunk re-sent after a timeout while the hub was away is acknowledged once)
    assert resumed.stats().photo_chunks <= -(-(size - part) // CHUNK) + 1


class Mallory:
    """Someone with the hub's broker credentials: sees the chunks, answers with forged acks."""

    def __init__(self, conn: MqttConnection, got: list[Inbound]) -> None:
        self.conn, self.got = conn, got

    def chunks(self) -> list[Inbound]:
        return [m for m in self.got if m.topic == Topics(FLEET, LOCKER).photo]

    async def ack(self, raw: bytes, *, received: int, status: str, key: object = None) -> None:
        chunk = decode_chunk(raw)
        ack = PhotoAck(
            Header("photo_ack", new_message_id(), FLEET, LOCKER, time.time()),
            chunk.photo, chunk.sha256, received, status, chunk.header.message_id,  # type: ignore[arg-type]
        )  # fmt: skip
        if isinstance(key, ed25519.Ed25519PrivateKey):
            ack = PhotoAck(**{**{f: getattr(ack, f) for f in PhotoAck.__slots__},
                              "sig": sign_ack(key, ack)})  # fmt: skip
        await self.conn.publish(Topics(FLEET, LOCKER).photo_ack, encode_ack(ack))


@pytest.mark.slow
async def test_forged_acks_make_the_device_neither_skip_nor_forget_a_photo(rig: Rig) -> None:
    (photo,) = await rig.take(1)
    size = len(rig.file(photo))
    got: list[Inbound] = []
    params = ConnectParams(host="127.0.0.1", port=rig.broker.port, client_id="mallory",
                           username=HUB_USER, password=HUB_PASSWORD, clean_start=True)  # fmt: skip
    conn = MqttConnection(params, got.append)
    await conn.connect()
    await conn.subscribe([(Topics(FLEET, LOCKER).photo, 1)])
    mallory = Mallory(conn, got)
    rogue = ed25519.Ed25519PrivateKey.generate()
    # a hub that confirms the events but takes no photos (it has no device CA)
    await rig.start_hub(photos=False)
    try:
        sync = rig.start_device(confirm_timeout_s=0.5)  # unanswered chunks are re-sent
        await wait_for(lambda: len(mallory.chunks()) >= 1, 20, "a chunk")
        first = mallory.chunks()[0].payload
        await mallory.ack(first, received=size, status="stored")  # unsigned
        await mallory.ack(first, received=size, status="stored", key=rogue)  # wrong key
        await mallory.ack(first, received=size - 1, status="partial", key=rogue)  # skip ahead
        await mallory.ack(first, received=size + 1, status="stored", key=HUB_KEY)  # beyond size
        await wait_for(lambda: len(mallory.chunks()) >= 3, 20, "the same chunk again")
        assert {decode_chunk(m.payload).offset for m in mallory.chunks()} == {0}
        assert await rig.uploaded() == {photo: False}
        assert sync.stats().refused >= 4
        # a genuine ack from an earlier session is stale in the next one
        await rig.stop_device()
        old = mallory.chunks()[-1].payload
        sync = rig.start_device()
        await asyncio.sleep(0.3)
        await mallory.ack(old, received=size, status="stored", key=HUB_KEY)
        await asyncio.sleep(0.5)
        assert await rig.uploaded() == {photo: False}
    finally:
        await conn.disconnect()
    await rig.stop_hub()
    await rig.start_hub()

    async def done() -> bool:
        return all((await rig.uploaded()).values())

    await wait_for(done, 40, "the real hub's ack")
    held = rig.store.photo(FLEET, LOCKER, photo)
    assert held is not None
    assert held[0] == "stored"
    assert held[2] == rig.file(photo)
    assert hashlib.sha256(held[2]).hexdigest() == hashlib.sha256(rig.file(photo)).hexdigest()


async def test_a_backlog_of_events_goes_before_the_photos(rig: Rig) -> None:
    await rig.take(2)

    def backlog(conn: sqlite3.Connection) -> int:
        for i in range(1500):
            journal.append_outbox(conn, "door.sensor", {"door": 1, "n": i}, now=time.time())
        return int(conn.execute("SELECT MAX(seq) FROM outbox").fetchone()[0])

    last = await rig.locker.agent.db.run(backlog)
    await rig.start_hub()
    rig.start_device(batch_size=50, inflight_window=2)

    async def done() -> bool:
        return all((await rig.uploaded()).values())

    await wait_for(done, 40, "the photos")
    with sqlite3.connect(rig.tmp / "hub.db") as db:
        (events_done,) = db.execute(
            "SELECT MAX(received_at) FROM events WHERE seq <= ?", (last,)
        ).fetchone()
        (first_chunk,) = db.execute("SELECT MIN(first_at) FROM photos").fetchone()
    assert events_done is not None
    assert first_chunk is not None
    assert events_done <= first_chunk  # not one chunk before the backlog was stored
