"""Verifying the audit log: every link recomputed, every checkpoint and key rotation checked.

`verify_audit` walks the chain in sequence order and reports what it finds (altered, missing,
reordered or truncated entries, removed append-only triggers, checkpoints whose signature does
not verify or that sign another head); `verify_command` is `locker-agent audit verify`, with
the exit codes below. The signed messages and the device key are in `agent.store.audit`.
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
import sys
from dataclasses import dataclass
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric import ed25519

from agent.errors import StoreError
from agent.store import journal
from agent.store.audit import (
    CHECKPOINT_ACTION,
    ROTATED_ACTION,
    checkpoint_message,
    load_public_key,
    public_key_id,
    rotation_message,
)
from agent.store.db import open_read_only

EXIT_AUDIT_OK = 0
EXIT_AUDIT_TAMPERED = 5  # an entry is altered, missing or out of order (or the log unprotected)
EXIT_AUDIT_BAD_SIGNATURE = 6  # the chain links, but a checkpoint signature does not verify


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
