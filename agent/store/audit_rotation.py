"""Rotating the device key that signs audit checkpoints, while the agent runs.

The hub asks with a signed `audit.rotate_key` command (`locker-admin hub send --name
audit.rotate_key`, docs/operations.md "Rotating the audit key"). The new key is made here and
never leaves the locker. In one transaction the agent signs the current head with the OLD key (a
checkpoint) and appends `audit.key_rotated`: the new public key, signed by the old key. That entry
travels to the hub like any event, so the hub learns the new key from the key it already trusts,
in order, before the first checkpoint the new key signs. The old private key is then erased
(renamed over); its public key stays in the data folder as `device_key.<kid>.pub.pem`, and the
hub keeps every key a device had, so old checkpoints (a revoked locker's too) still verify.

Crash safety: the new key is written first as `device_key.pem.next`; the rotation entry commits;
then the file is renamed over the old key. A start that finds a `.next` file finishes the rename
if the log holds the rotation to that key, and deletes it otherwise.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import sqlite3
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519

from agent.domain.clock import Clock
from agent.store import journal
from agent.store.audit import (
    ROTATED_ACTION,
    AuditSigner,
    DeviceKey,
    append_checkpoint,
    public_key_id,
    rotation_message,
)
from agent.store.db import Database

_LOG = logging.getLogger(__name__)


def raw_public(key: ed25519.Ed25519PublicKey) -> bytes:
    return key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def retired_public_path(key_path: Path, kid: str) -> Path:
    """Where a retired key's public half is kept (for `locker-agent audit verify`)."""
    return key_path.with_name(f"{key_path.name.removesuffix('.pem')}.{kid}.pub.pem")


def _next_path(key_path: Path) -> Path:
    return key_path.with_name(key_path.name + ".next")


def _write_private(path: Path, data: bytes, mode: int) -> None:
    path.unlink(missing_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())


def _stage(key_path: Path, old: DeviceKey, new: ed25519.Ed25519PrivateKey) -> None:
    """Blocking: the new key as `.next` (0600) and the old public key kept beside it."""
    pem = new.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    _write_private(_next_path(key_path), pem, 0o600)
    public = old.public.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    _write_private(retired_public_path(key_path, old.kid), public, 0o600)


def _record(conn: sqlite3.Connection, old: DeviceKey, new: DeviceKey, *, now: float) -> None:
    """Inside a transaction: the head signed by the old key, then the rotation entry."""
    append_checkpoint(conn, old, now=now)
    new_raw = raw_public(new.public)
    detail = {
        "old_kid": old.kid,
        "new_kid": new.kid,
        "alg": "Ed25519",
        "public_key": new_raw.hex(),
        "signature": old.private.sign(rotation_message(old.kid, new_raw)).hex(),
    }
    journal.record(conn, "audit.key_rotated", detail, now=now)  # = ROTATED_ACTION


def _install(key_path: Path) -> None:
    """Blocking: rename `.next` over the key (the old private key is gone)."""
    os.replace(_next_path(key_path), key_path)
    directory = os.open(key_path.parent, os.O_RDONLY)
    try:
        os.fsync(directory)
    finally:
        os.close(directory)


async def rotate_device_key(
    db: Database, signer: AuditSigner, key_path: Path, clock: Clock
) -> dict[str, str]:
    """Rotate now; the answer names the old and the new key id (never a key)."""
    old = signer.key
    private = ed25519.Ed25519PrivateKey.generate()
    new = DeviceKey(private, public_key_id(private.public_key()))
    await asyncio.to_thread(_stage, key_path, old, private)
    await db.run(_record, old, new, now=clock.now())
    await asyncio.to_thread(_install, key_path)
    signer.use_key(new)
    await signer.checkpoint()  # the rotation entry, signed by the new key at once
    _LOG.info("audit device key rotated: %s -> %s", old.kid, new.kid)
    return {"old_kid": old.kid, "new_kid": new.kid}


def _last_rotation_to(conn: sqlite3.Connection) -> str | None:
    row = conn.execute(
        "SELECT detail FROM audit WHERE action = ? ORDER BY seq DESC LIMIT 1", (ROTATED_ACTION,)
    ).fetchone()
    return None if row is None else str(json.loads(row[0]).get("new_kid"))


def _next_kid(key_path: Path) -> str | None:
    try:
        key = serialization.load_pem_private_key(_next_path(key_path).read_bytes(), None)
    except FileNotFoundError:
        return None
    except (OSError, ValueError, TypeError):
        return ""  # unreadable: a rotation that never committed
    return public_key_id(key.public_key()) if isinstance(key, ed25519.Ed25519PrivateKey) else ""


async def finish_interrupted_rotation(db: Database, key_path: Path) -> None:
    """At start: complete a rotation a crash cut between its commit and the rename."""
    staged = await asyncio.to_thread(_next_kid, key_path)
    if staged is None:
        return
    if staged and staged == await db.read(_last_rotation_to):
        await asyncio.to_thread(_install, key_path)
        _LOG.warning("finished an interrupted audit key rotation to %s", staged)
    else:
        await asyncio.to_thread(_next_path(key_path).unlink, True)
        _LOG.warning("dropped an audit key rotation that never committed")
