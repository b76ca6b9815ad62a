"""What the compartment check decides about a door opening a restart cut off (pure).

A pickup whose door command a crash interrupted is flagged for staff at start
(`door_open_interrupted`). With a compartment camera the locker can often decide itself: seen
empty, the customer took the parcel (a completed pickup); seen occupied, the parcel is still
there, so the pickup did not happen and the order stays collectable (the customer can retry).
Without a judgement (no camera, no empty reference of the door, a failed photo) staff decide.
An interrupted *re*-opening (after "the door did not open") whose compartment is seen occupied
is also left to staff: the first opening may have handed out something else.
"""

from __future__ import annotations

from enum import StrEnum


class Verdict(StrEnum):
    """What the locker does with an interrupted pickup."""

    COLLECTED = "collected"
    COLLECTABLE = "collectable"
    STAFF = "staff"


def interrupted_verdict(occupied: bool | None, purpose: str) -> Verdict:
    """`occupied`: the compartment check (None: no judgement); `purpose` of the opening."""
    if occupied is None:
        return Verdict.STAFF
    if not occupied:
        return Verdict.COLLECTED
    return Verdict.COLLECTABLE if purpose == "pickup" else Verdict.STAFF
