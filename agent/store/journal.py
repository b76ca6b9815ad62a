"""What every state change writes beside itself, in the same transaction: an outbox event for the
hub and a hash-chained audit entry. Sync functions on a `sqlite3.Connection` inside `Database.run`.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
import uuid
from collections.abc import Mapping

GENESIS_HASH = bytes(32)
FLOOR_SETTING = "time_floor"  # the highest hub-signed time verified (see services.trust)


def canonical_json(value: object) -> str:
    """JSON with sorted keys and no spaces, the same for the same value (hashed and signed)."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def new_transaction_id() -> str:
    """A new random transaction id (32 hex characters)."""
    return uuid.uuid4().hex


def append_outbox(
    conn: sqlite3.Connection,
    kind: str,
    body: Mapping[str, object],
    *,
    now: float,
    transaction_id: str | None = None,
) -> int:
    """Queue an event for the hub; returns its per-device sequence number."""
    cur = conn.execute(
        "INSERT INTO outbox (kind, transaction_id, body, created_at) VALUES (?, ?, ?, ?)",
        (kind, transaction_id or new_transaction_id(), canonical_json(dict(body)), now),
    )
    return int(cur.lastrowid or 0)


def audit_digest(
    prev_hash: bytes,
    *,
    seq: int,
    at: float,
    actor: str,
    action: str,
    order_id: str | None,
    door: int | None,
    detail_json: str,
) -> bytes:
    """SHA-256 over the previous hash and this entry's canonical content (the chain link)."""
    content = canonical_json(
        {
            "seq": seq,
            "at": repr(float(at)),
            "actor": actor,
            "action": action,
            "order": order_id,
            "door": door,
            "detail": detail_json,
        }
    )
    return hashlib.sha256(prev_hash + content.encode("utf-8")).digest()


def append_audit(
    conn: sqlite3.Connection,
    action: str,
    *,
    now: float,
    actor: str = "system",
    order_id: str | None = None,
    door: int | None = None,
    detail: Mapping[str, object] | None = None,
) -> int:
    """Append one entry to the hash-chained audit log; returns its sequence number."""
    last = conn.execute("SELECT seq, hash FROM audit ORDER BY seq DESC LIMIT 1").fetchone()
    seq = int(last[0]) + 1 if last else 1
    prev_hash = bytes(last[1]) if last else GENESIS_HASH
    detail_json = canonical_json(dict(detail or {}))
    digest = audit_digest(
        prev_hash,
        seq=seq,
        at=now,
        actor=actor,
        action=action,
        order_id=order_id,
        door=door,
        detail_json=detail_json,
    )
    conn.execute(
        "INSERT INTO audit (seq, at, actor, action, order_id, door, detail, prev_hash, hash)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (seq, now, actor, action, order_id, door, detail_json, prev_hash, digest),
    )
    return seq


def record(
    conn: sqlite3.Connection,
    kind: str,
    body: Mapping[str, object],
    *,
    now: float,
    actor: str = "system",
    order_id: str | None = None,
    door: int | None = None,
) -> None:
    """The usual pair: an outbox event for the hub and an audit entry, both named `kind`."""
    append_outbox(conn, kind, body, now=now)
    append_audit(conn, kind, now=now, actor=actor, order_id=order_id, door=door, detail=body)


def get_setting(conn: sqlite3.Connection, key: str) -> str | None:
    """The value of a stored setting, or None if it is not set."""
    row = conn.execute("SELECT value FROM settings WHERE key = ?", (key,)).fetchone()
    return None if row is None else str(row[0])


def put_setting(conn: sqlite3.Connection, key: str, value: str) -> None:
    """Stores a setting, replacing any earlier value."""
    conn.execute(
        "INSERT INTO settings (key, value) VALUES (?, ?)"
        " ON CONFLICT (key) DO UPDATE SET value = excluded.value",
        (key, value),
    )


def persisted_time_floor(conn: sqlite3.Connection) -> float:
    """The persisted time floor (0 before any hub-signed time was verified)."""
    return float(get_setting(conn, FLOOR_SETTING) or 0.0)
