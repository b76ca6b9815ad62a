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

Key rotation (`audit.rotate_key`, agent/store/audit_rotation.py): the locker sends
`audit.key_rotated` with the new raw public key signed by the old key. The hub accepts it only
under a key it already holds for that locker (else `AUDIT_BAD_SIGNATURE`), adds the new key to
`device_key_history` and makes it the enrolled one. A checkpoint is checked with the key its `kid`
names among every key the locker has had, so old checkpoints, a revoked locker's too, still
verify for disputes.
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
from hub_sync.protocol.event_sig import rotation_message
from hub_sync.protocol.signing import key_id
from hub_sync.protocol.wire import EventBatch

CHECKPOINT_KIND: Final = "audit.checkpoint"
ROTATED_KIND: Final = "audit.key_rotated"
_CONTEXT: Final = b"locker-agent audit checkpoint v1\x00"


def raw_kid(raw: bytes) -> str:
    """The agent's key id of a raw Ed25519 public key (SHA-256 of its SPKI, 8 bytes, hex)."""
    return key_id(ed25519.Ed25519PublicKey.from_public_bytes(raw))


def checkpoint_message(seq: int, head_hash: bytes) -> bytes:
    """The bytes a checkpoint signature covers: context, `seq` (8 bytes, big-endian), hash."""
    return _CONTEXT + struct.pack(">Q", seq) + head_hash


async def enroll_device_key(conn: Conn, fleet: str, device: str, pem: bytes, now: float) -> str:
    """Store (or replace) a locker's Ed25519 device public key; its raw hex."""
    key = serialization.load_pem_public_key(pem)
    if not isinstance(key, ed25519.Ed25519PublicKey):
        raise TypeError("the device key must be Ed25519")
    raw = key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    await _install_key(conn, fleet, device, raw, now)
    return raw.hex()


async def _install_key(conn: Conn, fleet: str, device: str, raw: bytes, now: float) -> None:
    await conn.execute(
        "INSERT INTO device_keys VALUES ($1,$2,$3,$4) ON CONFLICT (fleet, device)"
        " DO UPDATE SET public_key = EXCLUDED.public_key, enrolled_at = EXCLUDED.enrolled_at",
        fleet, device, raw, now,
    )  # fmt: skip
    await conn.execute(
        "INSERT INTO device_key_history VALUES ($1,$2,$3,$4,$5) ON CONFLICT DO NOTHING",
        fleet, device, raw_kid(raw), raw, now,
    )  # fmt: skip


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
        (b.header.fleet, b.header.device, e.kind, e.body)
        for b in batches
        for e in b.events
        if e.kind in (CHECKPOINT_KIND, ROTATED_KIND)
    ]
    ok = 0
    for fleet, device, event_kind, body in found:
        if event_kind == ROTATED_KIND:
            kind = await _rotate(conn, fleet, device, body, now)
        else:
            kind = await _check_one(conn, fleet, device, body, now)
        if kind is None:
            ok += 1
        else:
            await raise_alarms(conn, [(fleet, device, kind, "audit checkpoint")], now)
    return ok


async def _key(conn: Conn, fleet: str, device: str, kid: object) -> bytes | None:
    """The locker's key named `kid` (any it has had), else its enrolled one."""
    raw = await conn.fetchval(
        "SELECT public_key FROM device_key_history WHERE fleet = $1 AND device = $2 AND kid = $3",
        fleet, device, str(kid),
    )  # fmt: skip
    if raw is None:
        raw = await conn.fetchval(
            "SELECT public_key FROM device_keys WHERE fleet = $1 AND device = $2", fleet, device
        )
    return None if raw is None else bytes(raw)


async def _rotate(conn: Conn, fleet: str, device: str, body: Any, now: float) -> str | None:
    """A rotation signed by a key the hub holds for this locker installs the new key."""
    try:
        old_kid, raw = str(body["old_kid"]), bytes.fromhex(body["public_key"])
        signature = bytes.fromhex(body["signature"])
        old = await _key(conn, fleet, device, old_kid)
        if old is None or raw_kid(old) != old_kid:
            return "AUDIT_BAD_SIGNATURE"
        ed25519.Ed25519PublicKey.from_public_bytes(old).verify(
            signature, rotation_message(old_kid, raw)
        )
    except (KeyError, TypeError, ValueError, InvalidSignature):
        return "AUDIT_BAD_SIGNATURE"
    await _install_key(conn, fleet, device, raw, now)
    return None


async def _check_one(conn: Conn, fleet: str, device: str, body: Any, now: float) -> str | None:
    parsed = _parse(body)
    raw = await _key(conn, fleet, device, body.get("kid") if isinstance(body, dict) else None)
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
