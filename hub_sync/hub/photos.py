"""Storing uploaded evidence photos in PostgreSQL exactly once (docs/protocol.md, "Photo upload").

One transaction per pulled batch: each chunk locks its photo's row, appends what `merge_chunk`
says is new, and, once the prefix is the whole file, checks the SHA-256 and the C2PA manifest
(`C2paPhotoCheck` in a worker thread; the sender must also have an enrolled device key) and
records the verdict; a rejected photo raises the alarm `EVIDENCE_REJECTED`. The acks are built
from what this returns, published after the commit, and the messages acknowledged last: a worker
killed anywhere leaves the chunks to be redelivered, and applying a chunk again adds nothing.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Sequence

from hub_sync.hub.db import Conn
from hub_sync.hub.ingest import raise_alarms
from hub_sync.hub.photo_ingest import (
    ALARM_REJECTED,
    C2paPhotoCheck,
    PhotoState,
    log_rejected,
    merge_chunk,
)
from hub_sync.protocol.photo_wire import AckStatus, PhotoChunk


async def apply_chunks(
    conn: Conn, chunks: Sequence[PhotoChunk], check: C2paPhotoCheck, now: float
) -> list[PhotoState]:
    """Store the chunks in one transaction; the state each ack reports, in order."""
    async with conn.transaction():
        return [await _apply(conn, chunk, check, now) for chunk in chunks]


async def _apply(conn: Conn, chunk: PhotoChunk, check: C2paPhotoCheck, now: float) -> PhotoState:
    h = chunk.header
    key = (h.fleet, h.device, chunk.photo)
    await conn.execute(
        "INSERT INTO evidence_photos (fleet, device, photo, sha256, size, first_at)"
        " VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT DO NOTHING",
        *key, chunk.sha256, chunk.size, now,
    )  # fmt: skip
    row = await conn.fetchrow(
        "SELECT sha256, size, received, status, reason FROM evidence_photos"
        " WHERE fleet = $1 AND device = $2 AND photo = $3 FOR UPDATE",
        *key,
    )
    assert row is not None  # noqa: S101 - inserted above or before
    state = PhotoState(row["sha256"], row["size"], row["received"], row["status"], row["reason"])
    if state.status != "partial" or (state.sha256, state.size) != (chunk.sha256, chunk.size):
        return state
    append, received = merge_chunk(state.received, chunk)
    if not append:
        return state
    data: bytes = await conn.fetchval(
        "UPDATE evidence_photos SET data = data || $4, received = $5"
        " WHERE fleet = $1 AND device = $2 AND photo = $3"
        " RETURNING CASE WHEN received = size THEN data END",
        *key, append, received,
    )  # fmt: skip
    if received < state.size:
        return PhotoState(state.sha256, state.size, received, "partial")
    if hashlib.sha256(data).hexdigest() != state.sha256:
        await conn.execute(
            "UPDATE evidence_photos SET data = '', received = 0"
            " WHERE fleet = $1 AND device = $2 AND photo = $3",
            *key,
        )
        return PhotoState(state.sha256, state.size, 0, "partial")
    enrolled = await conn.fetchval(
        "SELECT 1 FROM device_keys WHERE fleet = $1 AND device = $2", h.fleet, h.device
    )
    reason = "not_enrolled" if enrolled is None else None
    if reason is None:
        reason = await asyncio.to_thread(check, h.fleet, h.device, data)
    status: AckStatus = "stored" if reason is None else "rejected"
    await conn.execute(
        "UPDATE evidence_photos SET status = $4, reason = $5, completed_at = $6"
        " WHERE fleet = $1 AND device = $2 AND photo = $3",
        *key, status, reason, now,
    )  # fmt: skip
    if reason is not None:
        detail = f"photo {chunk.photo}: {reason}"
        await raise_alarms(conn, [(h.fleet, h.device, ALARM_REJECTED, detail)], now)
        log_rejected(h.fleet, h.device, chunk.photo, reason)
    return PhotoState(state.sha256, state.size, received, status, reason)
