"""The audit log's integrity: the device key and signed checkpoints (verified in `audit_verify`).

Appending lives in `agent.store.journal`: every entry hashes its predecessor, and SQLite triggers
refuse UPDATE and DELETE. That stops mistakes, not someone who edits the file. What makes the
chain checkable is (1) recomputing every link (an altered, deleted or reordered entry breaks it)
and (2) checkpoints: every N entries or T minutes, and at clean shutdown, the agent appends an
`audit.checkpoint` entry carrying an Ed25519 signature, made with the device key, over the
sequence number and hash of the entry before it. The hub receives the same checkpoint through
the outbox, so a rewritten chain cannot be made to match what the hub already holds.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import sqlite3
import struct
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519

from agent.config.model import AgentConfig
from agent.domain.clock import Clock
from agent.errors import AuditKeyError, StorageFault
from agent.store import journal
from agent.store.db import Database
from hub_sync.protocol.signing import key_id

_LOG = logging.getLogger(__name__)

DEVICE_KEY_FILE = "device_key.pem"
CHECKPOINT_ACTION = "audit.checkpoint"
ROTATED_ACTION = "audit.key_rotated"  # agent/store/audit_rotation.py
_CHECKPOINT_CONTEXT = b"locker-agent audit checkpoint v1\x00"
_ROTATION_CONTEXT = b"locker-agent audit key rotation v1\x00"


@dataclass(frozen=True, slots=True)
class DeviceKey:
    """The device's Ed25519 signing key and its id (hex of the first 8 bytes of SHA-256(SPKI))."""

    private: ed25519.Ed25519PrivateKey
    kid: str

    @property
    def public(self) -> ed25519.Ed25519PublicKey:
        """The public half of the key, for verifying checkpoints."""
        return self.private.public_key()


def public_key_id(key: ed25519.Ed25519PublicKey) -> str:
    """The fleet's one key id (`hub_sync.protocol.signing.key_id`), hex."""
    return key_id(key)


def device_key_path(config: AgentConfig) -> Path:
    """The configured key file; a relative path is taken inside the data folder."""
    named = config.audit.device_key
    if named is None:
        return config.locker.data_dir / DEVICE_KEY_FILE
    return named if named.is_absolute() else config.locker.data_dir / named


def load_or_create_device_key(path: Path) -> DeviceKey:
    """The key in `path`, created (PKCS#8 PEM, mode 0600) if the file does not exist.

    Blocking file I/O: call through `asyncio.to_thread` from the event loop.
    """
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        pem = ed25519.Ed25519PrivateKey.generate().private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        # O_EXCL: two processes starting at once must not both write a key.
        with contextlib.suppress(FileExistsError):
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "wb") as handle:
                handle.write(pem)
            _LOG.info("created the device key %s", path)
    try:
        loaded = serialization.load_pem_private_key(path.read_bytes(), password=None)
    except (OSError, ValueError, TypeError) as err:
        raise AuditKeyError(f"{path}: cannot read the device key: {err}") from err
    if not isinstance(loaded, ed25519.Ed25519PrivateKey):
        raise AuditKeyError(f"{path}: the device key must be an Ed25519 key")
    return DeviceKey(loaded, public_key_id(loaded.public_key()))


def load_public_key(path: Path) -> ed25519.Ed25519PublicKey:
    """An Ed25519 public key from a PEM file holding either the public or the private key."""
    try:
        data = path.read_bytes()
    except OSError as err:
        raise AuditKeyError(f"{path}: cannot read: {err}") from err
    try:
        if b"PRIVATE KEY" in data:
            private = serialization.load_pem_private_key(data, password=None)
            key: object = private.public_key()
        else:
            key = serialization.load_pem_public_key(data)
    except (ValueError, TypeError) as err:
        raise AuditKeyError(f"{path}: not a PEM key: {err}") from err
    if not isinstance(key, ed25519.Ed25519PublicKey):
        raise AuditKeyError(f"{path}: not an Ed25519 key")
    return key


def rotation_message(old_kid: str, new_public: bytes) -> bytes:
    """What the old key signs to hand over: a context, the old key's id, the new raw key."""
    return _ROTATION_CONTEXT + old_kid.encode("ascii") + b"\x00" + new_public


def checkpoint_message(seq: int, head_hash: bytes) -> bytes:
    """The bytes a checkpoint signs: a context string, the head's sequence number and hash."""
    return _CHECKPOINT_CONTEXT + struct.pack(">Q", seq) + head_hash


def append_checkpoint(conn: sqlite3.Connection, key: DeviceKey, *, now: float) -> int | None:
    """Inside a transaction: sign the current head and append the checkpoint (entry + outbox).

    Returns the checkpoint's sequence number, or None if the head is already a checkpoint.
    """
    head = conn.execute("SELECT seq, action, hash FROM audit ORDER BY seq DESC LIMIT 1").fetchone()
    if head is None or head[1] == CHECKPOINT_ACTION:
        return None
    seq, head_hash = int(head[0]), bytes(head[2])
    signature = key.private.sign(checkpoint_message(seq, head_hash))
    detail = {
        "seq": seq,
        "hash": head_hash.hex(),
        "alg": "Ed25519",
        "kid": key.kid,
        "signature": signature.hex(),
    }
    journal.record(conn, CHECKPOINT_ACTION, detail, now=now)
    return seq + 1


def entries_since_checkpoint(conn: sqlite3.Connection) -> tuple[int, float | None]:
    """(entries after the last checkpoint, time of that checkpoint or None if there is none)."""
    last = conn.execute(
        "SELECT seq, at FROM audit WHERE action = ? ORDER BY seq DESC LIMIT 1",
        (CHECKPOINT_ACTION,),
    ).fetchone()
    head = conn.execute("SELECT COALESCE(MAX(seq), 0) FROM audit").fetchone()[0]
    if last is None:
        return int(head), None
    return int(head) - int(last[0]), float(last[1])


class AuditSigner:
    """Appends signed checkpoints every `every_entries` entries or `every_s` seconds."""

    def __init__(
        self,
        db: Database,
        key: DeviceKey,
        clock: Clock,
        *,
        every_entries: int = 500,
        every_s: float = 900.0,
        check_s: float = 5.0,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self._db = db
        self._key = key
        self._clock = clock
        self._every_entries = every_entries
        self._every_s = every_s
        self._check_s = check_s
        self._sleep = sleep
        self._started_at: float | None = None

    @property
    def kid(self) -> str:
        """The id of the key that signs checkpoints now."""
        return self._key.kid

    @property
    def key(self) -> DeviceKey:
        """The key that signs checkpoints now."""
        return self._key

    def use_key(self, key: DeviceKey) -> None:
        """Sign with `key` from now on (a rotation committed: agent/store/audit_rotation.py)."""
        self._key = key

    async def maybe_checkpoint(self) -> int | None:
        """Sign now if enough entries or time have passed since the last checkpoint."""
        now = self._clock.now()
        if self._started_at is None:
            self._started_at = now
        pending, last_at = await self._db.read(entries_since_checkpoint)
        if pending == 0:
            return None
        since = now - (last_at if last_at is not None else self._started_at)
        if pending >= self._every_entries or since >= self._every_s:
            return await self.checkpoint()
        return None

    async def checkpoint(self) -> int | None:
        """Sign the current head now (also called at clean shutdown)."""
        seq = await self._db.run(append_checkpoint, self._key, now=self._clock.now())
        if seq is not None:
            _LOG.info("audit checkpoint signed at entry %s", seq)
        return seq

    async def run(self) -> None:
        """Check every `check_s` seconds until cancelled."""
        while True:
            # a full disk is logged and alarmed by the store; sign when it is back
            with contextlib.suppress(StorageFault):
                await self.maybe_checkpoint()
            await self._sleep(self._check_s)
