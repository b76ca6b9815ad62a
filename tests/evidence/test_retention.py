"""Evidence retention rules (pure)."""

from __future__ import annotations

from agent.domain.retention import StoredPhoto, plan_retention

DAY = 86400.0
NOW = 100 * DAY


def _plan(photos: list[StoredPhoto], budget: int = 1000) -> tuple[tuple[str, ...], int, bool, bool]:
    plan = plan_retention(photos, now=NOW, retention_s=30 * DAY, budget_bytes=budget,
                          alarm_fraction=0.8)  # fmt: skip
    return plan.delete, plan.kept_bytes, plan.alarm, plan.full


def test_uploaded_photos_older_than_the_retention_go() -> None:
    photos = [
        StoredPhoto("old-up", 100, NOW - 40 * DAY, NOW - 39 * DAY),
        StoredPhoto("old-not-up", 100, NOW - 40 * DAY, None),
        StoredPhoto("new-up", 100, NOW - DAY, NOW),
    ]
    assert _plan(photos) == (("old-up",), 200, False, False)


def test_over_budget_the_oldest_uploaded_go_first_and_never_one_the_hub_lacks() -> None:
    photos = [
        StoredPhoto("a", 300, NOW - 5 * DAY, None),
        StoredPhoto("b", 300, NOW - 4 * DAY, NOW),
        StoredPhoto("c", 300, NOW - 3 * DAY, NOW),
        StoredPhoto("d", 300, NOW - 2 * DAY, NOW),
    ]
    assert _plan(photos) == (("b",), 900, True, False)


def test_photos_the_hub_lacks_alone_fill_the_budget_then_no_new_photo() -> None:
    photos = [StoredPhoto(f"p{i}", 250, NOW - i, None) for i in range(4)]
    assert _plan(photos) == ((), 1000, True, True)
    assert _plan(photos[:3]) == ((), 750, False, False)
    assert _plan(photos[:3], budget=900) == ((), 750, True, False)
