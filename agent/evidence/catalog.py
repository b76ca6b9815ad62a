"""Reading the evidence photo records (for the CLI and the staff API). Sync, on a connection."""

from __future__ import annotations

import sqlite3
from typing import Any

from agent.evidence.manifest import iso_time


def photo_rows(conn: sqlite3.Connection, order_ref: str | None) -> list[dict[str, Any]]:
    """The photos (of `order_ref`, or all), oldest first, with the audit entry each names."""
    query = (
        "SELECT p.id, p.event, p.door, p.order_ref, p.file, p.sha256, p.bytes, p.before_id,"
        " p.occupied, p.captured_at, p.uploaded_at, p.pruned_at, a.seq, a.action, a.hash"
        " FROM evidence_photos p LEFT JOIN audit a ON a.seq = p.audit_seq"
    )
    params: tuple[str, ...] = ()
    if order_ref is not None:
        query += " WHERE p.order_ref = ?"
        params = (order_ref,)
    rows = conn.execute(query + " ORDER BY p.captured_at, p.rowid", params).fetchall()
    return [_public(tuple(r)) for r in rows]


def _public(r: tuple[Any, ...]) -> dict[str, Any]:
    audit = None if r[12] is None else {"seq": r[12], "action": r[13], "hash": bytes(r[14]).hex()}
    return {
        "photo": r[0],
        "event": r[1],
        "door": r[2],
        "order": r[3],
        "file": r[4],
        "sha256": r[5],
        "bytes": r[6],
        "before": r[7],
        "occupied": None if r[8] is None else bool(r[8]),
        "captured_at": iso_time(r[9]),
        "uploaded": r[10] is not None,
        "pruned": r[11] is not None,
        "audit": audit,
    }


def photo_file(conn: sqlite3.Connection, photo_id: str) -> str | None:
    """The file name of a photo still on disk, or None."""
    row = conn.execute(
        "SELECT file FROM evidence_photos WHERE id = ? AND pruned_at IS NULL", (photo_id,)
    ).fetchone()
    return None if row is None else str(row[0])
