"""`PhotoSource` over the `evidence_photos` table: what the sync client uploads to the hub.

A photo is pending while the hub has not confirmed it whole (`uploaded_at` NULL) and it is still
on disk; the hub's signed final ack sets `uploaded_at` and records `evidence.uploaded` (with the
hub's reason when its check rejected the photo). Only then may the retention rules delete it.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Sequence
from pathlib import Path

from agent.domain.clock import Clock
from agent.store import journal
from agent.store.db import Database
from hub_sync.device.ports import PendingPhoto


def _pending(conn: sqlite3.Connection, limit: int) -> list[PendingPhoto]:
    rows = conn.execute(
        "SELECT id, sha256, bytes FROM evidence_photos"
        " WHERE uploaded_at IS NULL AND pruned_at IS NULL ORDER BY captured_at, rowid LIMIT ?",
        (limit,),
    ).fetchall()
    return [PendingPhoto(str(r[0]), str(r[1]), int(r[2])) for r in rows]


def _mark(conn: sqlite3.Connection, photo_id: str, rejected: str | None, now: float) -> None:
    row = conn.execute(
        "UPDATE evidence_photos SET uploaded_at = ? WHERE id = ? AND uploaded_at IS NULL"
        " RETURNING door",
        (now, photo_id),
    ).fetchone()
    if row is None:
        return  # already marked (a repeated final ack)
    body = {"photo": photo_id, "accepted": rejected is None, "reason": rejected}
    journal.record(conn, "evidence.uploaded", body, now=now, door=row[0])


def _read(path: Path, offset: int, size: int) -> bytes:
    with path.open("rb") as handle:
        handle.seek(offset)
        return handle.read(size)


class StorePhotos:
    """The agent's evidence photos as the sync client's `PhotoSource`."""

    def __init__(self, db: Database, folder: Path, clock: Clock) -> None:
        self._db = db
        self._folder = folder
        self._clock = clock

    async def pending_photos(self, limit: int) -> Sequence[PendingPhoto]:
        """Photos not confirmed by the hub and still on disk, oldest first."""
        return await self._db.read(_pending, limit)

    async def read_chunk(self, photo_id: str, offset: int, size: int) -> bytes:
        """Bytes of the photo's file from `offset` (in a worker thread)."""
        return await asyncio.to_thread(_read, self._folder / f"{photo_id}.jpg", offset, size)

    async def uploaded(self, photo_id: str, *, rejected: str | None) -> None:
        """Mark the photo uploaded and record `evidence.uploaded` (idempotent)."""
        await self._db.run(_mark, photo_id, rejected, self._clock.now())
