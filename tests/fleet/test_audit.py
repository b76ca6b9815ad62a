"""Audit checkpoints signed by the agent's device key, verified by the hub on real PostgreSQL."""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator
from pathlib import Path

import asyncpg
import pytest
from cryptography.hazmat.primitives import serialization

from agent.store.audit import DeviceKey, checkpoint_message, load_or_create_device_key
from agent.store.audit import rotation_message as agent_rotation_message
from hub_sync.hub import audit as hub_audit
from hub_sync.hub.audit import enroll_device_key, verify_checkpoints
from hub_sync.protocol.wire import EventBatch, Header, OutboxEvent, new_message_id
from tests.fleet.conftest import FLEET


def checkpoint(key: DeviceKey, seq: int, head: bytes) -> EventBatch:
    """What the agent's `append_checkpoint` sends through the outbox."""
    body = {"seq": seq, "hash": head.hex(), "alg": "Ed25519", "kid": key.kid,
            "signature": key.private.sign(checkpoint_message(seq, head)).hex()}  # fmt: skip
    event = OutboxEvent(seq, "audit.checkpoint", f"t-{seq}", body, 1.0)
    return EventBatch(Header("events", new_message_id(), FLEET, "d1", 1.0), 0, (event,))


@pytest.fixture
async def conn(dsn: str) -> AsyncIterator[asyncpg.Connection]:
    c = await asyncpg.connect(dsn)
    try:
        yield c
    finally:
        await c.close()


async def alarms(conn: asyncpg.Connection) -> list[str]:
    return [r["kind"] for r in await conn.fetch("SELECT kind FROM alarms ORDER BY id")]


def h(text: str) -> bytes:
    return hashlib.sha256(text.encode()).digest()


async def test_the_hub_signs_nothing_new_it_checks_the_agents_exact_bytes() -> None:
    assert hub_audit.checkpoint_message(41, h("x")) == checkpoint_message(41, h("x"))


async def test_valid_checkpoints_verify_and_each_break_raises_its_alarm(
    conn: asyncpg.Connection, tmp_path: Path
) -> None:
    key = load_or_create_device_key(tmp_path / "device_key.pem")
    # before the key is enrolled, nothing can be verified
    assert await verify_checkpoints(conn, [checkpoint(key, 10, h("a"))], 1.0) == 0
    assert await alarms(conn) == ["AUDIT_BAD_SIGNATURE"]
    await conn.execute("DELETE FROM alarms")
    pem = key.public.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    await enroll_device_key(conn, FLEET, "d1", pem, 1.0)
    good = [checkpoint(key, 10, h("a")), checkpoint(key, 20, h("b"))]
    assert await verify_checkpoints(conn, good, 2.0) == 2
    assert await verify_checkpoints(conn, good, 3.0) == 2  # redelivered: same answer
    assert await alarms(conn) == []
    forged = checkpoint(key, 30, h("c"))
    forged.events[0].body["hash"] = h("d").hex()  # type: ignore[index]
    await verify_checkpoints(conn, [forged], 4.0)
    assert await alarms(conn) == ["AUDIT_BAD_SIGNATURE"]
    await verify_checkpoints(conn, [checkpoint(key, 20, h("rewritten"))], 5.0)
    assert await alarms(conn) == ["AUDIT_BAD_SIGNATURE", "AUDIT_FORK"]
    await verify_checkpoints(conn, [checkpoint(key, 15, h("older copy"))], 6.0)
    assert await alarms(conn) == ["AUDIT_BAD_SIGNATURE", "AUDIT_FORK", "AUDIT_ROLLBACK"]


def rotation(old: DeviceKey, new: DeviceKey, seq: int) -> EventBatch:
    """What the agent's `audit.rotate_key` sends (agent/audit_rotation.py)."""
    raw = new.public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    body = {"old_kid": old.kid, "new_kid": new.kid, "alg": "Ed25519", "public_key": raw.hex(),
            "signature": old.private.sign(agent_rotation_message(old.kid, raw)).hex()}  # fmt: skip
    event = OutboxEvent(seq, "audit.key_rotated", f"t-{seq}", body, 1.0)
    return EventBatch(Header("events", new_message_id(), FLEET, "d1", 1.0), 0, (event,))


async def test_a_rotated_key_is_learnt_from_the_old_one_and_old_checkpoints_still_verify(
    conn: asyncpg.Connection, tmp_path: Path
) -> None:
    first = load_or_create_device_key(tmp_path / "first.pem")
    second = load_or_create_device_key(tmp_path / "second.pem")
    stranger = load_or_create_device_key(tmp_path / "stranger.pem")
    pem = first.public.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    await enroll_device_key(conn, FLEET, "d1", pem, 1.0)
    # the SQL the migration uses for keys enrolled before it names them as the agent does
    sql_kid = await conn.fetchval(
        "SELECT substr(encode(sha256('\\x302a300506032b6570032100'::bytea || public_key),"
        " 'hex'), 1, 16) FROM device_keys WHERE device = 'd1'"
    )
    assert sql_kid == first.kid
    # a forged hand-over (signed by a key the hub never had) installs nothing
    assert await verify_checkpoints(conn, [rotation(stranger, stranger, 9)], 1.5) == 0
    assert await alarms(conn) == ["AUDIT_BAD_SIGNATURE"]
    await conn.execute("DELETE FROM alarms")
    batches = [checkpoint(first, 10, h("a")), rotation(first, second, 12),
               checkpoint(second, 12, h("b"))]  # fmt: skip
    assert await verify_checkpoints(conn, batches, 2.0) == 3
    assert await verify_checkpoints(conn, [checkpoint(second, 20, h("c"))], 3.0) == 1
    # a redelivered old checkpoint (or a dispute about it) still verifies under the first key
    assert await verify_checkpoints(conn, [checkpoint(first, 10, h("a"))], 4.0) == 1
    assert await alarms(conn) == []
    kids = {r["kid"] for r in await conn.fetch("SELECT kid FROM device_key_history")}
    assert kids == {first.kid, second.kid}
