"""Applying the retention rules (`agent.domain.retention`) to the stored evidence photos.

One pass: read the photos still on disk, plan, then in one transaction mark the deleted ones
`pruned_at`, record `evidence.pruned`, and record `evidence.budget_alarm` when the alarm state
changes (kept in the settings table); then delete the files. A crash between the two leaves
only orphan files whose rows say pruned; the next pass deletes them again (missing files are
fine).
"""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
from pathlib import Path

from agent.config.evidence import EvidenceConfig
from agent.domain.retention import RetentionPlan, StoredPhoto, plan_retention
from agent.store import journal
from agent.store.db import Database

ALARM_SETTING = "evidence_budget_alarm"


def _stored(conn: sqlite3.Connection) -> list[StoredPhoto]:
    rows = conn.execute(
        "SELECT id, bytes, captured_at, uploaded_at FROM evidence_photos WHERE pruned_at IS NULL"
    ).fetchall()
    return [StoredPhoto(str(r[0]), int(r[1]), float(r[2]), r[3]) for r in rows]


def _apply(
    conn: sqlite3.Connection, plan: RetentionPlan, budget_bytes: int, now: float
) -> list[str]:
    files: list[str] = []
    freed = 0
    for photo_id in plan.delete:
        row = conn.execute(
            "UPDATE evidence_photos SET pruned_at = ? WHERE id = ? RETURNING file, bytes",
            (now, photo_id),
        ).fetchone()
        files.append(str(row[0]))
        freed += int(row[1])
    if plan.delete:
        body = {"photos": len(plan.delete), "bytes": freed}
        journal.record(conn, "evidence.pruned", body, now=now)
    was = journal.get_setting(conn, ALARM_SETTING) == "1"
    if plan.alarm != was:
        journal.put_setting(conn, ALARM_SETTING, "1" if plan.alarm else "0")
        body = {"active": plan.alarm, "used_bytes": plan.kept_bytes, "budget_bytes": budget_bytes}
        journal.record(conn, "evidence.budget_alarm", body, now=now)
    return files


def _delete(folder: Path, files: list[str]) -> None:
    for name in files:
        with contextlib.suppress(FileNotFoundError):
            (folder / name).unlink()


async def enforce_retention(
    db: Database, folder: Path, config: EvidenceConfig, now: float
) -> RetentionPlan:
    """One retention pass; returns the plan (its `full` says whether to take new photos)."""
    budget = int(config.budget_mb * 2**20)
    photos = await db.read(_stored)
    plan = plan_retention(
        photos,
        now=now,
        retention_s=config.retention_days * 86400,
        budget_bytes=budget,
        alarm_fraction=config.alarm_percent / 100,
    )
    files = await db.run(_apply, plan, budget, now)
    if files:
        await asyncio.to_thread(_delete, folder, files)
    return plan
