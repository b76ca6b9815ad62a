"""Collecting a parcel: one atomic authorisation, then the door.

The authorisation (check the order, mark it collected, spend the token, record the event for the
hub and the audit entry, note the door opening as pending) is ONE SQLite transaction. Only after
it commits is the door commanded. If the door fails, a second transaction puts the order back to
collectable and records the failure. If the process dies between the two, the pending opening is
found at the next start and flagged for staff: a parcel is never handed out twice.
"""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass, replace

from agent.domain.clock import Clock
from agent.domain.doors import OpeningResult
from agent.domain.labels import support_ref
from agent.domain.orders import Order, OrderEvent, OrderState
from agent.domain.policy import (
    INTERRUPTED_OPENING,
    Attempt,
    Credential,
    Setting,
    pickup_refusal,
)
from agent.errors import AgentError, DoorFailed, PickupRefused
from agent.reasons import Reason
from agent.services.attempts import AttemptGate
from agent.store import journal
from agent.store.db import Database
from agent.store.doors import (
    begin_opening,
    finish_opening,
    opened_unjudged,
    openings_of_order,
    set_opening_outcome,
    unfinished_openings,
)
from agent.store.orders import (
    find_order_by_code_key,
    get_order,
    save_order,
    spend_token,
    token_spent,
    unspend_token,
    withdrawal_of,
)
from agent.tokens.typed_codes import CodeKeys
from hardware.doors.port import DoorController
from hardware.errors import HardwareError

_LOG = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class PickupGrant:
    """What the authorising transaction decided: which door to open, for which order."""

    order_id: str
    door: int
    opening_id: int
    cti: bytes | None
    purpose: str = "pickup"  # or "reopen": the grace-period second opening


@dataclass(frozen=True, slots=True)
class PickupResult:
    """A pickup that opened a door (or reopened it within the grace period)."""

    order_id: str
    door: int
    reopened: bool = False
    receipt: str | None = None  # a return drop-off's receipt reference


def refuse(refusal: Reason | None, order_id: str) -> None:
    """Raise `PickupRefused` for a policy refusal (nothing when `refusal` is None)."""
    if refusal is not None:
        raise PickupRefused(reason=refusal, ref=support_ref(order_id))


TYPED_AT_DOOR = Attempt(Credential.TYPED_CODE, Setting.UNATTENDED)


def authorise_collect(
    conn: sqlite3.Connection,
    order: Order,
    *,
    via: str,
    now: float,
    attempt: Attempt,
    cti: bytes | None = None,
) -> PickupGrant:
    """Inside a transaction: mark `order` collected, spend `cti`, queue event + audit, note
    the door opening as pending. Raises `PickupRefused` (and writes nothing) if the order
    policy (`agent.domain.policy`) does not let `attempt` take it now."""
    withdrawn = withdrawal_of(conn, order)
    refuse(pickup_refusal(order, attempt, now=now, withdrawn=withdrawn), order.order_id)
    if order.door is None:
        raise PickupRefused(reason=Reason.ORDER_NOT_COLLECTABLE, ref=support_ref(order.order_id))
    if cti is not None and token_spent(conn, cti):
        raise PickupRefused(reason=Reason.ALREADY_USED, ref=support_ref(order.order_id))
    collected = order.apply(OrderEvent.COLLECT, now)
    assert collected.door is not None  # noqa: S101 - checked above
    save_order(conn, collected, now=now)
    opening = begin_opening(
        conn, collected.door, order_id=order.order_id, purpose="pickup", now=now
    )
    if cti is not None:
        spend_token(conn, cti, order.order_id, now, opening_id=opening)
    journal.record(
        conn,
        "order.collected",
        {"order": order.order_id, "door": collected.door, "via": via},
        now=now,
        actor=via,
        order_id=order.order_id,
        door=collected.door,
    )
    return PickupGrant(order.order_id, collected.door, opening, cti)


def _door_opened(conn: sqlite3.Connection, grant: PickupGrant, now: float) -> None:
    finish_opening(conn, grant.opening_id, OpeningResult.OPENED, now)
    journal.append_audit(conn, "door.opened", now=now, order_id=grant.order_id, door=grant.door)


def _door_failed(conn: sqlite3.Connection, grant: PickupGrant, detail: str, now: float) -> None:
    """Undo the collect: the parcel is still behind a locked door, so it stays collectable."""
    finish_opening(conn, grant.opening_id, OpeningResult.FAILED, now)
    order = get_order(conn, grant.order_id)
    # A failed reopen undoes nothing: the parcel was handed out by the first opening.
    if order is not None and order.state is OrderState.COLLECTED and grant.purpose == "pickup":
        save_order(conn, order.apply(OrderEvent.UNDO_COLLECT, now), now=now)
    if grant.cti is not None:
        unspend_token(conn, grant.cti)
    journal.record(
        conn,
        "door.open_failed",
        {"order": grant.order_id, "door": grant.door, "detail": detail},
        now=now,
        order_id=grant.order_id,
        door=grant.door,
    )


class PickupService:
    """Collects parcels by typed code (and, with the token verifier, by signed token)."""

    def __init__(
        self,
        db: Database,
        doors: DoorController,
        clock: Clock,
        *,
        typed_code_key: Callable[[str], CodeKeys],
        attempts: AttemptGate,
        reopen_grace_s: float = 0.0,
    ) -> None:
        self._db = db
        self._reopen_grace_s = reopen_grace_s
        self._doors = doors
        self._clock = clock
        self._typed_code_key = typed_code_key
        self._attempts = attempts

    async def collect_with_code(self, code: str) -> PickupResult:
        """Open the door of the order whose typed code is `code` (behind the attempt budget;
        a malformed code is no guess and costs nothing)."""
        try:
            key = self._typed_code_key(code)
        except AgentError:
            raise PickupRefused(reason=Reason.CODE_UNKNOWN) from None
        now = self._clock.now()
        grant = await self._attempts.run(
            "pickup", _authorise_by_code, key, now, self._reopen_grace_s
        )
        return await self.open_granted(grant)

    async def open_granted(self, grant: PickupGrant) -> PickupResult:
        """Command the door for a committed grant; on failure restore the order and raise."""
        try:
            await self._doors.open(grant.door)
        except HardwareError as err:
            _LOG.warning("door %s failed to open for a pickup: %s", grant.door, err)
            await self._db.run(_door_failed, grant, str(err), self._clock.now())
            raise DoorFailed(str(err), ref=support_ref(grant.order_id)) from err
        await self._db.run(_door_opened, grant, self._clock.now())
        _LOG.info("pickup: door %s opened", grant.door)
        return PickupResult(grant.order_id, grant.door, reopened=grant.purpose == "reopen")


def _authorise_by_code(
    conn: sqlite3.Connection, code_key: CodeKeys, now: float, reopen_grace_s: float = 0.0
) -> PickupGrant:
    order = find_order_by_code_key(conn, code_key)
    if order is None:
        raise PickupRefused(reason=Reason.CODE_UNKNOWN)
    if reopen_grace_s > 0 and order.state is OrderState.COLLECTED:
        # the reopen obeys the same table as a pickup (a typed code never reopens a door it
        # could not have opened, nor one whose opening a restart cut off)
        withdrawn = withdrawal_of(conn, order)
        refused = pickup_refusal(order, TYPED_AT_DOOR, now=now, withdrawn=withdrawn, reported=True)
        refuse(refused, order.order_id)
        reopen = authorise_reopen(conn, order, now=now, grace_s=reopen_grace_s)
        if reopen is not None:
            return reopen
    return authorise_collect(conn, order, via="typed_code", now=now, attempt=TYPED_AT_DOOR)


def authorise_reopen(
    conn: sqlite3.Connection, order: Order, *, now: float, grace_s: float
) -> PickupGrant | None:
    """Inside a transaction: within `grace_s` of the pickup that opened its door, the order's
    code opens the same door ONCE more (the customer shut it too soon). None if not allowed."""
    if order.state is not OrderState.COLLECTED or order.door is None:
        return None
    rows = openings_of_order(conn, order.order_id, ("pickup", "reopen"))
    last = next((r for r in rows if r["result"] == OpeningResult.OPENED), None)
    if any(r["purpose"] == "reopen" for r in rows) or last is None or last["finished_at"] is None:
        return None
    if now - float(last["finished_at"]) > grace_s:
        return None
    opening = begin_opening(conn, order.door, order_id=order.order_id, purpose="reopen", now=now)
    journal.record(
        conn,
        "order.reopened",
        {"order": order.order_id, "door": order.door},
        now=now,
        actor="typed_code",
        order_id=order.order_id,
        door=order.door,
    )
    return PickupGrant(order.order_id, order.door, opening, None, purpose="reopen")


def recover_interrupted_openings(conn: sqlite3.Connection, now: float) -> int:
    """At start: door openings a restart cut off are never undone on a customer's word.

    An opening that never finished (a crash between authorising and the door) is marked
    `interrupted`; a pickup's opening that was commanded but never judged by the door sensor
    (a crash before the first sensor poll after it) gets the outcome `interrupted`, so neither
    supervision nor "the door did not open" can undo it. Their orders are flagged for staff
    (`door_open_interrupted`), which the order policy table refuses on every customer path.
    Nothing is opened again."""
    rows = unfinished_openings(conn)
    for row in rows:
        finish_opening(conn, int(row["id"]), OpeningResult.INTERRUPTED, now)
        _flag_interrupted(conn, row["order_id"], int(row["door"]), now)
    unjudged = opened_unjudged(conn, ("pickup", "reopen"))
    for row in unjudged:
        set_opening_outcome(conn, int(row["id"]), OpeningResult.INTERRUPTED.value)
        _flag_interrupted(conn, row["order_id"], int(row["door"]), now)
    return len(rows) + len(unjudged)


def _flag_interrupted(
    conn: sqlite3.Connection, order_id: str | None, door: int, now: float
) -> None:
    if order_id is not None:
        order = get_order(conn, order_id)
        if order is not None:
            flagged = replace(order, needs_attention=INTERRUPTED_OPENING)
            save_order(conn, flagged, now=now)
    journal.record(
        conn,
        "door.open_interrupted",
        {"order": order_id, "door": door},
        now=now,
        order_id=order_id,
        door=door,
    )
