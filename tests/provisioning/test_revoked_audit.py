"""A revoked locker's past audit checkpoints still verify (for disputes); its new messages are
refused by the fleet hub and `DEVICE_REVOKED` names it."""

from __future__ import annotations

import hashlib
from pathlib import Path

import asyncpg
from cryptography.hazmat.primitives import serialization

from agent.store.audit import checkpoint_message, load_or_create_device_key
from hub_sync.hub import store
from hub_sync.hub.audit import enroll_device_key, verify_checkpoints
from hub_sync.hub.inbound import Decoded, drop_revoked
from hub_sync.protocol.photo_wire import PhotoChunk
from hub_sync.protocol.wire import EventBatch, Header, OutboxEvent, new_message_id
from provisioning import registry
from tests.provisioning.lifecycle import FLEET


def _checkpoint(tmp_path: Path, seq: int) -> tuple[EventBatch, bytes]:
    key = load_or_create_device_key(tmp_path / "device.key")
    head = hashlib.sha256(f"entry-{seq}".encode()).digest()
    body = {"seq": seq, "hash": head.hex(), "alg": "Ed25519", "kid": key.kid,
            "signature": key.private.sign(checkpoint_message(seq, head)).hex()}  # fmt: skip
    event = OutboxEvent(seq, "audit.checkpoint", f"t-{seq}", body, 1.0)
    batch = EventBatch(Header("events", new_message_id(), FLEET, "lk-9", 1.0), 0, (event,))
    pem = key.private.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return batch, pem


async def test_revoked_device_checkpoints_verify_and_its_new_messages_are_refused(
    dsn: str, tmp_path: Path
) -> None:
    conn = await asyncpg.connect(dsn)
    try:
        batch, pem = _checkpoint(tmp_path, 7)
        await enroll_device_key(conn, FLEET, "lk-9", pem, 1.0)
        assert await verify_checkpoints(conn, [batch], 2.0) == 1
        await registry.record_credential(
            conn, fleet=FLEET, device="lk-9", serial="09", cert_pem="-", broker_user="lk-9",
            secret_hash=None, now=1.0, not_after=9e9,
        )  # fmt: skip
        await conn.execute(
            "INSERT INTO device_registry VALUES ($1,'lk-9','s','{}','active',1.0,NULL)", FLEET
        )
        assert await registry.revoke_device(conn, fleet=FLEET, device="lk-9", now=3.0) == ["09"]
        # the dispute: the stored checkpoint still verifies with the enrolled device key
        assert await verify_checkpoints(conn, [batch], 4.0) == 1
        alarms = await conn.fetch("SELECT device, kind FROM alarms WHERE cleared_at IS NULL")
        assert [(r["device"], r["kind"]) for r in alarms] == [("lk-9", "DEVICE_REVOKED")]
        # what arrives in its name now is dropped before it is stored
        chunk = PhotoChunk(batch.header, "p1", "0" * 64, 3, 0, b"abc")
        decoded = Decoded(events=[batch], photos=[chunk])
        assert drop_revoked(decoded, await store.revoked_devices(conn, FLEET)) == {"lk-9"}
        assert (decoded.events, decoded.photos, decoded.dropped) == ([], [], 2)
    finally:
        await conn.close()
