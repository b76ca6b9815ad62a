"""The reference hub's device keys: each locker's Ed25519 device key and every one it has had.

The device key signs audit checkpoints, events messages and command replies. The hub is told a
locker's first key (`HubStore.add_device_key`, from the `device_key.pem` the agent made); a
rotation arrives as the event `audit.key_rotated` (docs/protocol.md, event catalogue), signed by
the old key, and is taken only under a key the hub already holds for that locker. Old keys stay,
so a reply signed just before a rotation still verifies.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from typing import Final

from cryptography.hazmat.primitives.asymmetric import ed25519

from hub_sync.protocol.event_sig import handed_over, split_signed
from hub_sync.protocol.signing import key_id
from hub_sync.protocol.wire import EventBatch

DDL: Final = """
CREATE TABLE IF NOT EXISTS device_keys (
    fleet TEXT NOT NULL, device TEXT NOT NULL, kid TEXT NOT NULL,
    public_key BLOB NOT NULL,  -- raw Ed25519 (32 bytes)
    since REAL NOT NULL,
    PRIMARY KEY (fleet, device, kid)
) WITHOUT ROWID;
"""
ROTATED_KIND: Final = "audit.key_rotated"


def add_key(db: sqlite3.Connection, fleet: str, device: str, raw: bytes, now: float) -> None:
    """Hold `raw` (an Ed25519 public key, 32 bytes) as one of the locker's keys."""
    kid = key_id(ed25519.Ed25519PublicKey.from_public_bytes(raw))
    db.execute(
        "INSERT OR IGNORE INTO device_keys VALUES (?,?,?,?,?)", (fleet, device, kid, raw, now)
    )


def keys_of(db: sqlite3.Connection, fleet: str, device: str) -> list[bytes]:
    """Every key the locker has had, raw."""
    rows = db.execute(
        "SELECT public_key FROM device_keys WHERE fleet=? AND device=?", (fleet, device)
    ).fetchall()
    return [bytes(r[0]) for r in rows]


def signed_batches(
    db: sqlite3.Connection, batches: Sequence[EventBatch]
) -> tuple[list[EventBatch], list[str]]:
    """The batches signed by a key their device has had (or one it handed over to in that batch
    or an earlier one), and the reasons of the others (`event_sig.split_signed`)."""
    signed, refused = split_signed(batches, lambda fleet, device: keys_of(db, fleet, device))
    return signed, [reason for _batch, reason in refused]


def learn_rotations(db: sqlite3.Connection, batches: Sequence[EventBatch], now: float) -> int:
    """Add the new keys of `audit.key_rotated` events signed by a key held for that locker;
    how many were taken (a forged or malformed rotation is skipped)."""
    taken = 0
    for batch in batches:
        fleet, device = batch.header.fleet, batch.header.device
        for ev in batch.events:
            if ev.kind != ROTATED_KIND:
                continue
            raw = _verified_new_key(db, fleet, device, ev.body)
            if raw is not None:
                add_key(db, fleet, device, raw, now)
                taken += 1
    return taken


def _verified_new_key(
    db: sqlite3.Connection, fleet: str, device: str, body: object
) -> bytes | None:
    old_kid = body.get("old_kid") if isinstance(body, dict) else None
    row = db.execute(
        "SELECT public_key FROM device_keys WHERE fleet=? AND device=? AND kid=?",
        (fleet, device, str(old_kid)),
    ).fetchone()
    return None if row is None else handed_over({str(old_kid): bytes(row[0])}, body)
