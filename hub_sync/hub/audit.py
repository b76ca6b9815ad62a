"""Verifying each locker's signed audit checkpoints against its enrolled device key.

The agent appends an `audit.checkpoint` entry every N entries or T minutes (agent/store/audit.py)
and
sends it as an outbox event with body `{seq, hash, alg: "Ed25519", kid, signature}`: an Ed25519
signature by the device key over `b"locker-agent audit checkpoint v1\\x00" + seq (8 bytes,
big-endian) + hash`. The hub checks each one as it arrives (idempotent: a redelivered checkpoint
is checked again and recorded once) and raises:

- `AUDIT_BAD_SIGNATURE`: malformed, no enrolled key, or the signature does not verify;
- `AUDIT_FORK`: a checkpoint for an audit entry the hub holds with another hash (the locker's
  audit chain was rewritten);
- `AUDIT_ROLLBACK`: a checkpoint below the highest one verified, with a hash the hub never saw
  (the chain restarted from an older copy).
"""

from __future__ import annotations

import struct
from collections.abc import Sequence
from typing import Any, Final

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519

from hub_sync.hub.db import Conn
from hub_sync.hub.ingest import raise_alarms
from hub_sync.protocol.wire import EventBatch

CHECKPOINT_KIND: Final = "audit.checkpoint"
_CONTEXT: Final = b"locker-agent audit checkpoint v1\x00"


def checkpoint_message(seq: int, head_hash: bytes) -> bytes:
    return _CONTEXT + struct.pack(">Q", seq) + head_hash


async def enroll_device_key(conn: Conn, fleet: str, device: str, pem: bytes, now: float) -> str:
    """Store (or replace) a locker's Ed25519 device public key; its raw hex."""
    key = serialization.load_pem_public_key(pem)
    if not isinstance(key, ed25519.Ed25519PublicKey):
        raise TypeError("the device key must be Ed25519")
    raw = key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    await conn.execute(
        "INSERT INTO device_keys VALUES ($1,$2,$3,$4) ON CONFLICT (fleet, device)"
        " DO UPDATE SET public_key = EXCLUDED.public_key, enrolled_at = EXCLUDED.enrolled_at",
        fleet, device, raw, now,
    )  # fmt: skip
    return raw.hex()


def _parse(body: Any) -> tuple[int, bytes, bytes] | None:
    try:
        seq, head, sig = body["seq"], bytes.fromhex(body["hash"]), bytes.fromhex(body["signature"])
    except (KeyError, TypeError, ValueError):
        return None
    if body.get("alg") != "Ed25519" or not isinstance(seq, int) or isinstance(seq, bool):
        return None
    if seq < 0 or len(head) != 32 or len(sig) != 64:
        return None
    return seq, head, sig


async def verify_checkpoints(conn: Conn, batches: Sequence[EventBatch], now: float) -> int:
    """Check every checkpoint in `batches`; the number that verified. Alarms on any break."""
    found = [
        (b.header.fleet, b.header.device, e.body)
        for b in batches
        for e in b.events
        if e.kind == CHECKPOINT_KIND
    ]
    ok = 0
    for fleet, device, body in found:
        kind = await _check_one(conn, fleet, device, body, now)
        if kind is None:
            ok += 1
        else:
            await raise_alarms(conn, [(fleet, device, kind, "audit checkpoint")], now)
    return ok


async def _check_one(conn: Conn, fleet: str, device: str, body: Any, now: float) -> str | None:
    parsed = _parse(body)
    raw = await conn.fetchval(
        "SELECT public_key FROM device_keys WHERE fleet = $1 AND device = $2", fleet, device
    )
    if parsed is None or raw is None:
        return "AUDIT_BAD_SIGNATURE"
    seq, head, sig = parsed
    try:
        ed25519.Ed25519PublicKey.from_public_bytes(bytes(raw)).verify(
            sig, checkpoint_message(seq, head)
        )
    except (InvalidSignature, ValueError):
        return "AUDIT_BAD_SIGNATURE"
    known = await conn.fetchval(
        "SELECT head_hash FROM audit_checkpoints WHERE fleet = $1 AND device = $2"
        " AND audit_seq = $3",
        fleet, device, seq,
    )  # fmt: skip
    if known is not None:
        return None if bytes(known) == head else "AUDIT_FORK"
    top = await conn.fetchval(
        "SELECT max(audit_seq) FROM audit_checkpoints WHERE fleet = $1 AND device = $2",
        fleet, device,
    )  # fmt: skip
    await conn.execute(
        "INSERT INTO audit_checkpoints VALUES ($1,$2,$3,$4,true,$5) ON CONFLICT DO NOTHING",
        fleet, device, seq, head, now,
    )  # fmt: skip
    if top is not None and seq < top:
        return "AUDIT_ROLLBACK"
    return None
