"""The verdict on an interrupted opening from the compartment check (agent.domain.interrupted)."""

from __future__ import annotations

from agent.domain.interrupted import Verdict, interrupted_verdict


def test_seen_empty_is_a_completed_pickup_and_seen_occupied_stays_collectable() -> None:
    assert interrupted_verdict(False, "pickup") is Verdict.COLLECTED
    assert interrupted_verdict(True, "pickup") is Verdict.COLLECTABLE


def test_without_a_judgement_staff_decide() -> None:
    assert interrupted_verdict(None, "pickup") is Verdict.STAFF
    assert interrupted_verdict(None, "reopen") is Verdict.STAFF


def test_a_reopening_seen_occupied_is_left_to_staff_but_seen_empty_is_concluded() -> None:
    assert interrupted_verdict(True, "reopen") is Verdict.STAFF
    assert interrupted_verdict(False, "reopen") is Verdict.COLLECTED
