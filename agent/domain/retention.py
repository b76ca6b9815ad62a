"""Evidence photo retention (pure): what to delete, and whether to raise the budget alarm.

Only photos the hub has confirmed (`uploaded_at` set) are ever deleted: those older than the
retention period, then, while the photos still exceed the budget, the oldest uploaded ones
first. A photo the hub does not have yet is never deleted; when such photos alone fill the
budget, new photos are refused (`budget_full`) so that a long offline spell cannot fill the disk
under the database. The alarm rises at `alarm_fraction` of the budget and falls below it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class StoredPhoto:
    """What retention needs to know about one stored evidence photo."""

    photo_id: str
    size: int
    captured_at: float
    uploaded_at: float | None


@dataclass(frozen=True, slots=True)
class RetentionPlan:
    """The photos to delete, the bytes kept, and whether to alarm or refuse new photos."""

    delete: tuple[str, ...]
    kept_bytes: int
    alarm: bool  # kept photos at or above the alarm level
    full: bool  # kept photos at or above the budget: take no new photo


def plan_retention(
    photos: Sequence[StoredPhoto],
    *,
    now: float,
    retention_s: float,
    budget_bytes: int,
    alarm_fraction: float,
) -> RetentionPlan:
    """Which stored photos to delete now, and the budget state after deleting them."""
    ordered = sorted(photos, key=lambda p: (p.captured_at, p.photo_id))
    delete = [p for p in ordered if p.uploaded_at is not None and now - p.captured_at > retention_s]
    gone = {p.photo_id for p in delete}
    kept = sum(p.size for p in ordered if p.photo_id not in gone)
    for photo in ordered:
        if kept <= budget_bytes:
            break
        if photo.uploaded_at is not None and photo.photo_id not in gone:
            delete.append(photo)
            gone.add(photo.photo_id)
            kept -= photo.size
    return RetentionPlan(
        tuple(p.photo_id for p in delete),
        kept,
        alarm=kept >= alarm_fraction * budget_bytes,
        full=kept >= budget_bytes,
    )
