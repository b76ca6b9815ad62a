"""At start, after recovery: let the compartment check decide interrupted pickups.

For every order a restart left flagged `door_open_interrupted` (still `collected`), photograph its
door (`interrupted_opening`, a signed evidence photo like any other) and apply the verdict of
`agent.domain.interrupted`: a completed pickup clears the flag (`door.open_concluded`, outcome
`collected`); a parcel still there undoes the collect and frees the spent token, so the customer
can try again (outcome `collectable`); no judgement leaves the order to staff as before. Each
decision is one transaction with its event and audit entry.
"""

from __future__ import annotations

import logging
import sqlite3
from dataclasses import replace

from agent.domain.clock import Clock
from agent.domain.interrupted import Verdict, interrupted_verdict
from agent.domain.orders import OrderEvent, OrderState
from agent.domain.policy import INTERRUPTED_OPENING
from agent.evidence.recorder import EvidenceRecorder
from agent.store import journal, orders
from agent.store.db import Database
from agent.store.doors import InterruptedOpening, interrupted_openings

_LOG = logging.getLogger(__name__)
EVENT = "interrupted_opening"


def _conclude(
    conn: sqlite3.Connection,
    flagged: InterruptedOpening,
    verdict: Verdict,
    photo: str | None,
    now: float,
) -> bool:
    order_id, door, opening_id = flagged.order_id, flagged.door, flagged.opening_id
    order = orders.get_order(conn, order_id)
    if (
        order is None
        or order.state is not OrderState.COLLECTED
        or order.needs_attention != INTERRUPTED_OPENING
    ):
        return False  # staff decided meanwhile
    if verdict is Verdict.COLLECTED:
        orders.save_order(conn, replace(order, needs_attention=None), now=now)
    else:
        back = replace(order.apply(OrderEvent.UNDO_COLLECT, now), needs_attention=None)
        orders.save_order(conn, back, now=now)
        orders.unspend_tokens_of_opening(conn, opening_id)
    body = {"order": order_id, "door": door, "outcome": verdict.value, "photo": photo}
    journal.record(conn, "door.open_concluded", body, now=now, order_id=order_id, door=door)
    return True


async def decide_interrupted_openings(
    db: Database, recorder: EvidenceRecorder, clock: Clock
) -> int:
    """Decide what the compartment check can; the number of orders decided."""
    decided = 0
    flagged_orders = await db.read(interrupted_openings, OrderState.COLLECTED, INTERRUPTED_OPENING)
    for flagged in flagged_orders:
        order_id, door, purpose = flagged.order_id, flagged.door, flagged.purpose
        photo, occupied = await recorder.inspect(EVENT, door=door, order_ref=order_id)
        verdict = interrupted_verdict(occupied, purpose)
        if verdict is Verdict.STAFF:
            _LOG.warning(
                "interrupted opening of door %s: no compartment verdict, staff decide", door
            )
            continue
        if await db.run(_conclude, flagged, verdict, photo, clock.now()):
            decided += 1
            _LOG.info("interrupted opening of door %s concluded: %s", door, verdict.value)
    return decided
