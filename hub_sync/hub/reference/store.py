"""The reference hub's fleet state in SQLite: events deduplicated by (device, seq), commands.

Synchronous by design: the hub calls it through `asyncio.to_thread`, a whole batch of messages per
call, so one thread hop and one transaction cover many devices' events.
"""

from __future__ import annotations

import hashlib
import json
import logging
import sqlite3
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Final

from hub_sync.adapters.sqlite_file import LockedSqlite
from hub_sync.errors import SignatureError
from hub_sync.hub.photo_ingest import (
    ALARM_REJECTED,
    PhotoCheck,
    PhotoState,
    log_rejected,
    merge_chunk,
)
from hub_sync.hub.reference import device_keys
from hub_sync.protocol.photo_wire import AckStatus, PhotoChunk
from hub_sync.protocol.reply_sig import raw_ed25519_keys, verify_reply
from hub_sync.protocol.strict_json import canonical_json
from hub_sync.protocol.wire import EventBatch, Reply

_LOG = logging.getLogger(__name__)

_DDL: Final = """
CREATE TABLE IF NOT EXISTS devices (
    fleet TEXT NOT NULL, device TEXT NOT NULL,
    through_seq INTEGER NOT NULL DEFAULT 0,
    applied INTEGER NOT NULL DEFAULT 0,
    duplicates INTEGER NOT NULL DEFAULT 0,
    gaps INTEGER NOT NULL DEFAULT 0,
    online INTEGER NOT NULL DEFAULT 0,
    alarm TEXT,
    status_at REAL,
    state TEXT,
    PRIMARY KEY (fleet, device)
);
CREATE TABLE IF NOT EXISTS events (
    fleet TEXT NOT NULL, device TEXT NOT NULL, seq INTEGER NOT NULL,
    kind TEXT NOT NULL, transaction_id TEXT NOT NULL, body TEXT NOT NULL,
    created_at REAL NOT NULL, received_at REAL NOT NULL,
    PRIMARY KEY (fleet, device, seq)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS commands (
    message_id TEXT PRIMARY KEY,
    fleet TEXT NOT NULL, device TEXT NOT NULL,
    transaction_id TEXT NOT NULL, name TEXT NOT NULL, payload BLOB NOT NULL,
    status TEXT NOT NULL DEFAULT 'pending', reason TEXT, result TEXT,
    created_at REAL NOT NULL, sent_at REAL, replied_at REAL, attempts INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS commands_pending ON commands (status, device);
CREATE TABLE IF NOT EXISTS photos (
    fleet TEXT NOT NULL, device TEXT NOT NULL, photo TEXT NOT NULL,
    sha256 TEXT NOT NULL, size INTEGER NOT NULL,
    received INTEGER NOT NULL DEFAULT 0,    -- the contiguous prefix held in photo_parts
    data BLOB,                              -- the whole file, once received
    status TEXT NOT NULL DEFAULT 'partial', -- partial | stored | rejected
    reason TEXT,                            -- why a photo was rejected
    first_at REAL NOT NULL, completed_at REAL,
    PRIMARY KEY (fleet, device, photo)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS photo_parts (
    fleet TEXT NOT NULL, device TEXT NOT NULL, photo TEXT NOT NULL, offset INTEGER NOT NULL,
    data BLOB NOT NULL,
    PRIMARY KEY (fleet, device, photo, offset)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS alarms (
    id INTEGER PRIMARY KEY,
    fleet TEXT NOT NULL, device TEXT NOT NULL, kind TEXT NOT NULL, detail TEXT NOT NULL,
    raised_at REAL NOT NULL
);
"""


@dataclass(frozen=True, slots=True)
class DeviceRow:
    """What the hub knows of one device: seq stored through, counts, online and alarm."""

    fleet: str
    device: str
    through_seq: int
    applied: int
    duplicates: int
    gaps: int
    online: bool
    alarm: str | None


@dataclass(frozen=True, slots=True)
class Applied:
    """What `apply_events` did: each device's contiguous seq stored, events stored, duplicates;
    the message id to confirm per device (its last signed batch), and why batches were refused."""

    through: dict[tuple[str, str], int]
    applied: int
    duplicates: int
    in_reply_to: dict[tuple[str, str], str] = field(default_factory=dict)
    refused: list[str] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class PendingCommand:
    """An unanswered command: its message id, its device and the signed payload to (re)send."""

    message_id: str
    device: str
    payload: bytes


@dataclass(frozen=True, slots=True)
class RecordedReplies:
    """What `record_replies` did: the genuine replies (the first one to a command is recorded),
    and the reasons of those refused."""

    taken: list[Reply]
    refused: list[str]


class HubStore(LockedSqlite):
    """One SQLite file (WAL). Thread-safe through one lock; every method is one transaction."""

    def __init__(self, path: Path) -> None:
        super().__init__(path, _DDL + device_keys.DDL)

    def apply_events(self, batches: Sequence[EventBatch], now: float) -> Applied:
        """Store new events in seq order; each device's highest contiguous seq and the counts.
        Only batches signed by a key the device has had are taken (`event_sig.verify_events`);
        the others are refused, their reasons returned. A device key rotation among the taken
        ones is learnt (`device_keys.learn_rotations`)."""

        def apply(db: sqlite3.Connection) -> Applied:
            signed, refused = device_keys.signed_batches(db, batches)
            device_keys.learn_rotations(db, signed, now)
            applied = _apply(db, signed, now)
            last = {(b.header.fleet, b.header.device): b.header.message_id for b in signed}
            return replace(applied, in_reply_to=last, refused=refused)

        return self._tx(apply)

    def set_status(
        self, fleet: str, device: str, online: bool, alarm: str | None, now: float
    ) -> None:
        """Record a device's online/offline status and alarm."""
        self._tx(lambda db: _ensure(db, fleet, device).execute(
            "UPDATE devices SET online=?, alarm=?, status_at=? WHERE fleet=? AND device=?",
            (int(online), alarm, now, fleet, device),
        ))  # fmt: skip

    def set_state(self, fleet: str, device: str, state: str) -> None:
        """Keep a device's latest retained state message."""
        self._tx(lambda db: _ensure(db, fleet, device).execute(
            "UPDATE devices SET state=? WHERE fleet=? AND device=?", (state, fleet, device)
        ))  # fmt: skip

    def add_command(
        self, *, message_id: str, fleet: str, device: str, transaction_id: str, name: str,
        payload: bytes, now: float,
    ) -> None:  # fmt: skip
        """Store a signed command as pending."""
        self._tx(lambda db: db.execute(
            "INSERT INTO commands (message_id, fleet, device, transaction_id, name, payload,"
            " created_at) VALUES (?,?,?,?,?,?,?)",
            (message_id, fleet, device, transaction_id, name, payload, now),
        ))  # fmt: skip

    def mark_sent(self, message_ids: Iterable[str], now: float) -> None:
        """Record that these commands were (re)sent at `now`."""
        rows = [(now, m) for m in message_ids]
        self._tx(lambda db: db.executemany(
            "UPDATE commands SET sent_at=?, attempts=attempts+1 WHERE message_id=?", rows
        ))  # fmt: skip

    def record_replies(self, replies: Sequence[Reply], now: float) -> RecordedReplies:
        """Record the answers to pending commands: only a reply signed by a key the device has
        had, to a command sent to that device, with its transaction id. The first such wins."""
        return self._tx(lambda db: _record_replies(db, replies, now))

    def add_device_key(self, fleet: str, device: str, raw: bytes, now: float) -> None:
        """Hold a locker's Ed25519 device public key (raw, 32 bytes): it signs the replies."""
        self._tx(lambda db: device_keys.add_key(db, fleet, device, raw, now))

    def pending_commands(
        self,
        fleet: str,
        *,
        device: str | None = None,
        online_only: bool = False,
        sent_before: float | None = None,
    ) -> list[PendingCommand]:
        """Unanswered commands, oldest first."""
        sql = (
            "SELECT c.message_id, c.device, c.payload FROM commands c LEFT JOIN devices d"
            " ON d.fleet=c.fleet AND d.device=c.device WHERE c.status='pending' AND c.fleet=?"
        )
        params: list[object] = [fleet]
        if device is not None:
            sql += " AND c.device=?"
            params.append(device)
        if online_only:
            sql += " AND d.online=1"
        if sent_before is not None:
            sql += " AND (c.sent_at IS NULL OR c.sent_at < ?)"
            params.append(sent_before)
        with self._lock:
            rows = self._db.execute(sql + " ORDER BY c.created_at", params).fetchall()
        return [PendingCommand(r[0], r[1], bytes(r[2])) for r in rows]

    def command(self, message_id: str) -> tuple[str, str | None, dict[str, object]] | None:
        """(status, reason, result) of one command."""
        with self._lock:
            row = self._db.execute(
                "SELECT status, reason, result FROM commands WHERE message_id=?", (message_id,)
            ).fetchone()
        if row is None:
            return None
        return row[0], row[1], json.loads(row[2]) if row[2] else {}

    def apply_chunk(self, chunk: PhotoChunk, check: PhotoCheck, now: float) -> PhotoState:
        """Store one photo chunk (idempotent, `merge_chunk`); a whole photo is checked here."""
        return self._tx(lambda db: _apply_chunk(db, chunk, check, now))

    def photo(self, fleet: str, device: str, photo: str) -> tuple[str, str | None, bytes] | None:
        """(status, reason, data) of a photo the hub holds."""
        with self._lock:
            row = self._db.execute(
                "SELECT status, reason, data FROM photos WHERE fleet=? AND device=? AND photo=?",
                (fleet, device, photo),
            ).fetchone()
        return None if row is None else (str(row[0]), row[1], bytes(row[2]))

    def alarms(self, fleet: str) -> list[tuple[str, str, str]]:
        """(device, kind, detail) of every alarm raised, oldest first."""
        with self._lock:
            rows = self._db.execute(
                "SELECT device, kind, detail FROM alarms WHERE fleet=? ORDER BY id", (fleet,)
            ).fetchall()
        return [(str(r[0]), str(r[1]), str(r[2])) for r in rows]

    def devices(self, fleet: str) -> list[DeviceRow]:
        """Every device of `fleet` the hub has heard of, by id."""
        with self._lock:
            rows = self._db.execute(
                "SELECT fleet, device, through_seq, applied, duplicates, gaps, online, alarm"
                " FROM devices WHERE fleet=? ORDER BY device",
                (fleet,),
            ).fetchall()
        return [DeviceRow(r[0], r[1], r[2], r[3], r[4], r[5], bool(r[6]), r[7]) for r in rows]

    def event_seqs(self, fleet: str, device: str) -> list[int]:
        """The seqs stored for one device, ascending (the tests check them for gaps)."""
        with self._lock:
            rows = self._db.execute(
                "SELECT seq FROM events WHERE fleet=? AND device=? ORDER BY seq", (fleet, device)
            ).fetchall()
        return [r[0] for r in rows]


def _ensure(db: sqlite3.Connection, fleet: str, device: str) -> sqlite3.Connection:
    db.execute("INSERT OR IGNORE INTO devices (fleet, device) VALUES (?, ?)", (fleet, device))
    return db


def _record_replies(
    db: sqlite3.Connection, replies: Sequence[Reply], now: float
) -> RecordedReplies:
    out = RecordedReplies([], [])
    for r in replies:
        h = r.header
        row = db.execute(
            "SELECT transaction_id, status FROM commands WHERE message_id=? AND fleet=?"
            " AND device=?",
            (r.command_message_id, h.fleet, h.device),
        ).fetchone()
        if row is None or row[0] != r.transaction_id:
            out.refused.append("UNKNOWN_COMMAND")  # not a command this hub sent that device
            continue
        try:
            verify_reply(raw_ed25519_keys(device_keys.keys_of(db, h.fleet, h.device)), r)
        except SignatureError as err:
            out.refused.append(err.reason)
            continue
        out.taken.append(r)  # genuine: also when answered already (a re-send's cached reply)
        if row[1] != "pending":
            continue
        db.execute(
            "UPDATE commands SET status=?, reason=?, result=?, replied_at=? WHERE message_id=?",
            ("ok" if r.ok else "nack", r.reason, canonical_json(dict(r.result)).decode(), now,
             r.command_message_id),
        )  # fmt: skip
    return out


def _apply(db: sqlite3.Connection, batches: Sequence[EventBatch], now: float) -> Applied:
    through: dict[tuple[str, str], int] = {}
    counts: dict[tuple[str, str], list[int]] = {}
    rows: list[tuple[object, ...]] = []
    for batch in batches:
        key = (batch.header.fleet, batch.header.device)
        if key not in through:
            _ensure(db, *key)
            row = db.execute(
                "SELECT through_seq, applied FROM devices WHERE fleet=? AND device=?", key
            ).fetchone()
            # a device the hub has never heard from starts where the device says it is
            through[key] = row[0] if row[1] or row[0] else batch.base
            counts[key] = [0, 0, 0]
        if batch.base > through[key]:
            # the device deleted events we never stored (hub restored from a backup): move on
            _LOG.error("gap for %s/%s: %d..%d lost", *key, through[key] + 1, batch.base)
            counts[key][2] += 1
            through[key] = batch.base
        for ev in batch.events:
            if ev.seq <= through[key]:
                counts[key][1] += 1
            elif ev.seq == through[key] + 1:
                body = canonical_json(dict(ev.body)).decode()
                rows.append((*key, ev.seq, ev.kind, ev.transaction_id, body, ev.created_at, now))
                through[key] = ev.seq
                counts[key][0] += 1
            else:
                break  # ahead of a gap: wait for the device to resend in order
    db.executemany("INSERT INTO events VALUES (?,?,?,?,?,?,?,?)", rows)
    db.executemany(
        "UPDATE devices SET through_seq=?, applied=applied+?, duplicates=duplicates+?,"
        " gaps=gaps+? WHERE fleet=? AND device=?",
        [(through[k], *counts[k], *k) for k in through],
    )
    return Applied(
        through=through,
        applied=sum(c[0] for c in counts.values()),
        duplicates=sum(c[1] for c in counts.values()),
    )


def _apply_chunk(
    db: sqlite3.Connection, chunk: PhotoChunk, check: PhotoCheck, now: float
) -> PhotoState:
    h = chunk.header
    key = (h.fleet, h.device, chunk.photo)
    row = db.execute(
        "SELECT sha256, size, received, status, reason FROM photos"
        " WHERE fleet=? AND device=? AND photo=?",
        key,
    ).fetchone()
    if row is None:
        db.execute(
            "INSERT INTO photos (fleet, device, photo, sha256, size, first_at)"
            " VALUES (?,?,?,?,?,?)",
            (*key, chunk.sha256, chunk.size, now),
        )
        row = (chunk.sha256, chunk.size, 0, "partial", None)
    state = PhotoState(str(row[0]), int(row[1]), int(row[2]), row[3], row[4])
    if state.status != "partial" or (state.sha256, state.size) != (chunk.sha256, chunk.size):
        return state  # finished, or another file under this id: the device refuses the ack
    append, received = merge_chunk(state.received, chunk)
    if not append:
        return state
    db.execute(
        "INSERT INTO photo_parts (fleet, device, photo, offset, data) VALUES (?,?,?,?,?)",
        (*key, state.received, append),
    )
    db.execute(
        "UPDATE photos SET received = ? WHERE fleet=? AND device=? AND photo=?", (received, *key)
    )
    if received < state.size:
        return PhotoState(state.sha256, state.size, received, "partial")
    parts = db.execute(
        "SELECT data FROM photo_parts WHERE fleet=? AND device=? AND photo=? ORDER BY offset", key
    ).fetchall()
    db.execute("DELETE FROM photo_parts WHERE fleet=? AND device=? AND photo=?", key)
    data = b"".join(bytes(p[0]) for p in parts)
    if hashlib.sha256(data).hexdigest() != state.sha256:
        # a device whose file changed under it: start over rather than keep a corrupt copy
        db.execute("UPDATE photos SET received = 0 WHERE fleet=? AND device=? AND photo=?", key)
        return PhotoState(state.sha256, state.size, 0, "partial")
    reason = check(h.fleet, h.device, data)
    status: AckStatus = "stored" if reason is None else "rejected"
    db.execute(
        "UPDATE photos SET status=?, reason=?, completed_at=?, data=?"
        " WHERE fleet=? AND device=? AND photo=?",
        (status, reason, now, data, *key),
    )
    if reason is not None:
        db.execute(
            "INSERT INTO alarms (fleet, device, kind, detail, raised_at) VALUES (?,?,?,?,?)",
            (h.fleet, h.device, ALARM_REJECTED, f"photo {chunk.photo}: {reason}", now),
        )
        log_rejected(h.fleet, h.device, chunk.photo, reason)
    return PhotoState(state.sha256, state.size, received, status, reason)
