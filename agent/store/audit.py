"""The audit log's integrity: the device key, signed checkpoints and verification.

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
import json
import logging
import os
import sqlite3
import struct
import sys
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519

from agent.config.model import AgentConfig
from agent.domain.clock import Clock
from agent.errors import AuditKeyError, StorageFault, StoreError
from agent.store import journal
from agent.store.db import Database, open_read_only
from hub_sync.protocol.signing import key_id

_LOG = logging.getLogger(__name__)

DEVICE_KEY_FILE = "device_key.pem"
CHECKPOINT_ACTION = "audit.checkpoint"
ROTATED_ACTION = "audit.key_rotated"  # agent/store/audit_rotation.py
_CHECKPOINT_CONTEXT = b"locker-agent audit checkpoint v1\x00"
_ROTATION_CONTEXT = b"locker-agent audit key rotation v1\x00"

EXIT_AUDIT_OK = 0
EXIT_AUDIT_TAMPERED = 5  # an entry is altered, missing or out of order (or the log unprotected)
EXIT_AUDIT_BAD_SIGNATURE = 6  # the chain links, but a checkpoint signature does not verify


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


# -- verification --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class AuditProblem:
    """One finding: the entry it concerns, a kind, and an explanation."""

    seq: int | None
    kind: str  # altered|missing|broken_link|rewritten|truncated|unprotected|bad_signature
    detail: str


@dataclass(frozen=True, slots=True)
class AuditReport:
    """The outcome of verifying the audit log: what was checked and every problem found."""

    entries: int
    head_seq: int
    checkpoints: int
    last_checkpoint_seq: int | None
    problems: tuple[AuditProblem, ...]

    @property
    def exit_status(self) -> int:
        """The process exit code: 0 intact, 5 tampered, 6 only bad signatures."""
        if any(p.kind != "bad_signature" for p in self.problems):
            return EXIT_AUDIT_TAMPERED
        return EXIT_AUDIT_BAD_SIGNATURE if self.problems else EXIT_AUDIT_OK

    def as_json(self) -> dict[str, object]:
        """The report as JSON, with how many entries no checkpoint signs yet."""
        unsigned = self.head_seq - (self.last_checkpoint_seq or 0)
        return {
            "ok": not self.problems,
            "entries": self.entries,
            "head_seq": self.head_seq,
            "checkpoints": self.checkpoints,
            "last_checkpoint_seq": self.last_checkpoint_seq,
            "unsigned_after_last_checkpoint": unsigned,
            "problems": [{"seq": p.seq, "kind": p.kind, "detail": p.detail} for p in self.problems],
        }


class _ChainCheck:
    """Walks the entries in sequence order, recomputing each link."""

    def __init__(self, keys: dict[str, ed25519.Ed25519PublicKey]) -> None:
        self.keys = dict(keys)  # grows with the rotations the chain proves
        self.problems: list[AuditProblem] = []
        self.entries = 0
        self.checkpoints = 0
        self.last_checkpoint: int | None = None
        self.prev_seq = 0
        self.prev_hash = journal.GENESIS_HASH

    def feed(self, row: sqlite3.Row) -> None:
        seq, stored_prev, stored_hash = int(row["seq"]), bytes(row["prev_hash"]), bytes(row["hash"])
        self.entries += 1
        if seq != self.prev_seq + 1:
            first, last = self.prev_seq + 1, seq - 1
            gap = f"entry {first}" if first == last else f"entries {first}-{last}"
            self._problem(seq, "missing", f"{gap} missing before entry {seq}")
        elif stored_prev != self.prev_hash:
            self._problem(seq, "broken_link", "does not follow the entry before it (reordered?)")
        digest = journal.audit_digest(
            stored_prev,
            seq=seq,
            at=float(row["at"]),
            actor=str(row["actor"]),
            action=str(row["action"]),
            order_id=row["order_id"],
            door=row["door"],
            detail_json=str(row["detail"]),
        )
        if digest != stored_hash:
            self._problem(seq, "altered", "content does not match its hash")
        if row["action"] == CHECKPOINT_ACTION:
            self._check_signature(seq, str(row["detail"]))
        elif row["action"] == ROTATED_ACTION:
            self._learn_key(seq, str(row["detail"]))
        self.prev_seq, self.prev_hash = seq, stored_hash

    def _check_signature(self, seq: int, detail_json: str) -> None:
        self.checkpoints += 1
        try:
            detail = json.loads(detail_json)
            signed_seq, signed_hash = int(detail["seq"]), bytes.fromhex(detail["hash"])
            kid, signature = str(detail["kid"]), bytes.fromhex(detail["signature"])
        except (ValueError, KeyError, TypeError):
            self._problem(seq, "bad_signature", "checkpoint detail is malformed")
            return
        key = self.keys.get(kid)
        if key is None:
            self._problem(seq, "bad_signature", f"checkpoint key {kid} is not the device key")
            return
        try:
            key.verify(signature, checkpoint_message(signed_seq, signed_hash))
        except InvalidSignature:
            self._problem(seq, "bad_signature", "checkpoint signature does not verify")
            return
        if (signed_seq, signed_hash) != (self.prev_seq, self.prev_hash):
            # A genuine signature over another head: the chain was rewritten after signing.
            self._problem(
                seq, "rewritten", f"entries up to {signed_seq} differ from what was signed"
            )
            return
        self.last_checkpoint = seq

    def _learn_key(self, seq: int, detail_json: str) -> None:
        """A rotation signed by a key we trust makes its new key trusted too."""
        try:
            detail = json.loads(detail_json)
            old_kid, raw = str(detail["old_kid"]), bytes.fromhex(detail["public_key"])
            new = ed25519.Ed25519PublicKey.from_public_bytes(raw)
            self.keys[old_kid].verify(
                bytes.fromhex(detail["signature"]), rotation_message(old_kid, raw)
            )
        except (ValueError, KeyError, TypeError, InvalidSignature):
            self._problem(seq, "bad_signature", "key rotation not signed by a known device key")
            return
        self.keys[public_key_id(new)] = new

    def _problem(self, seq: int | None, kind: str, detail: str) -> None:
        self.problems.append(AuditProblem(seq, kind, detail))


_TRIGGERS = ("audit_no_update", "audit_no_delete")


def verify_audit(
    conn: sqlite3.Connection, keys: dict[str, ed25519.Ed25519PublicKey]
) -> AuditReport:
    """Check the whole chain, the checkpoints (against `keys` by kid) and the append-only guard."""
    check = _ChainCheck(keys)
    rows = conn.execute(
        "SELECT seq, at, actor, action, order_id, door, detail, prev_hash, hash"
        " FROM audit ORDER BY seq"
    )
    for row in rows:
        check.feed(row)
    issued = conn.execute("SELECT seq FROM sqlite_sequence WHERE name = 'audit'").fetchone()
    if issued is not None and int(issued[0]) > check.prev_seq:
        check.problems.append(
            AuditProblem(
                check.prev_seq + 1,
                "truncated",
                f"entries {check.prev_seq + 1}-{int(issued[0])} were deleted from the end",
            )
        )
    present = {
        str(r[0]) for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'trigger'")
    }
    missing = [t for t in _TRIGGERS if t not in present]
    if missing:
        check.problems.append(
            AuditProblem(None, "unprotected", f"append-only triggers removed: {missing}")
        )
    return AuditReport(
        check.entries,
        check.prev_seq,
        check.checkpoints,
        check.last_checkpoint,
        tuple(check.problems),
    )


def verify_audit_file(database: Path, keys: dict[str, ed25519.Ed25519PublicKey]) -> AuditReport:
    """Open `database` read-only and verify it. Blocking: call through `asyncio.to_thread`."""
    try:
        conn = open_read_only(database)
    except sqlite3.Error as err:
        raise StoreError(f"{database}: {err}") from err
    try:
        return verify_audit(conn, keys)
    except sqlite3.Error as err:
        raise StoreError(f"{database}: cannot read the audit log: {err}") from err
    finally:
        conn.close()


def _keys_for(key_file: Path) -> dict[str, ed25519.Ed25519PublicKey]:
    """The key in `key_file` and the retired ones kept beside it (`device_key.<kid>.pub.pem`)."""
    files = sorted(key_file.parent.glob(f"{key_file.name.removesuffix('.pem')}.*.pub.pem"))
    keys = [load_public_key(path) for path in files]
    if key_file.exists():
        keys.append(load_public_key(key_file))
    return {public_key_id(key): key for key in keys}


async def verify_command(database: Path, key_file: Path) -> int:
    """`locker-agent audit verify`: print the report as JSON, name the first problem on
    stderr, return 0, `EXIT_AUDIT_TAMPERED` or `EXIT_AUDIT_BAD_SIGNATURE`."""
    keys = await asyncio.to_thread(_keys_for, key_file)
    report = await asyncio.to_thread(verify_audit_file, database, keys)
    print(json.dumps(report.as_json()))
    for problem in report.problems[:5]:
        where = f"entry {problem.seq}" if problem.seq is not None else "log"
        print(f"audit {problem.kind} at {where}: {problem.detail}", file=sys.stderr)
    return report.exit_status
