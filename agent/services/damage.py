"""A customer's "my parcel is damaged" report after the door opened: a photo and an event.

Accepted with the order's typed code (or the kiosk help ticket of a camera pickup) within
`DAMAGE_GRACE_S` of the opening that handed the parcel out. The compartment is photographed
(`parcel_damaged`, a C2PA-signed evidence photo, when photos are on) and `order.damage_reported`
goes to the hub with the photo's id, so a claim has the locker's own record of when and where.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass

from agent.domain.labels import support_ref
from agent.domain.orders import Order, OrderState
from agent.errors import AgentError
from agent.evidence.recorder import EvidenceRecorder
from agent.reasons import Reason
from agent.store import journal
from agent.store.db import Database

#: a customer may look the parcel over before reporting: longer than "the door did not open"
DAMAGE_GRACE_S = 300.0


@dataclass(frozen=True, slots=True)
class DamageReport:
    """The kiosk's answer to a damage report."""

    result: str  # "recorded"
    door: int
    photo: bool  # a photo of the compartment was taken
    ref: str


def _record(
    conn: sqlite3.Connection, order_id: str, door: int, photo: str | None, now: float
) -> None:
    body = {"order": order_id, "door": door, "photo": photo}
    journal.record(
        conn, "order.damage_reported", body, now=now, actor="customer", order_id=order_id, door=door
    )


async def report_damage(
    db: Database, evidence: EvidenceRecorder, order: Order, opened_at: float | None, now: float
) -> DamageReport:
    """Photograph the door and record the report; `GRACE_EXPIRED` unless `order` was handed out
    by an opening that finished within `DAMAGE_GRACE_S`."""
    door = order.door
    if (
        door is None
        or order.state is not OrderState.COLLECTED
        or opened_at is None
        or now - opened_at > DAMAGE_GRACE_S
    ):
        raise AgentError(reason=Reason.GRACE_EXPIRED, ref=support_ref(order.order_id))
    photo = await evidence.photograph(
        "parcel_damaged", door=door, order_ref=order.order_id, actor="customer"
    )
    await db.run(_record, order.order_id, door, photo, now)
    return DamageReport("recorded", door, photo is not None, support_ref(order.order_id))
