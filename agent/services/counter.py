"""Counter mode: a staffed return and pickup counter run by the same agent, without doors.

Staff scan parcels in as they arrive (`receive`), hand them out when the customer's code and the
parcel's label name the same order (`handout`), and take returns over the counter
(`accept_return`). An order flagged `id_check_required` is handed out only after staff record
the check as `passed`; `failed` and `not_possible` (the check system is down) keep the parcel
collectable. Only the outcome is recorded, never document data. An evidence photo is kept as
its SHA-256 alone.
"""

from __future__ import annotations

import logging
import re
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import TypeVar

from agent.domain.clock import Clock
from agent.domain.doors import DoorSize
from agent.domain.labels import ParcelLabel, parse_label, support_ref
from agent.domain.orders import Order, OrderEvent, OrderState
from agent.domain.policy import (
    Attempt,
    Credential,
    Flag,
    IdOutcome,
    Setting,
    flags_of,
    id_outcome_to_record,
    pickup_refusal,
)
from agent.domain.returns import ReturnEvent
from agent.errors import AgentError, RequestError, TransitionError, UnknownCode, UnknownOrder
from agent.reasons import Reason
from agent.services.attempts import AttemptGate
from agent.services.orders import Announcement, announce_order
from agent.services.returns import (
    ReturnGrant,
    accept_return,
    check_order_ref,
    find_return_by_code,
    record_dropped_off,
)
from agent.services.token_pickup import token_attempt
from agent.store import journal, returns
from agent.store.db import Database
from agent.store.holds import start_hold
from agent.store.orders import (
    find_order_by_code_key,
    get_order,
    save_order,
    spend_token,
    token_spent,
    withdrawal_of,
)
from agent.tokens.claims import Purpose
from agent.tokens.typed_codes import CodeKeys
from agent.tokens.verify import VerifiedToken

_LOG = logging.getLogger(__name__)
_T = TypeVar("_T")
_SHA256_HEX = re.compile(r"[0-9a-f]{64}")


IdCheck = IdOutcome  # the outcome staff record: passed, failed or not_possible

TokenVerifier = Callable[[str, Purpose], VerifiedToken]


@dataclass(frozen=True, slots=True)
class Handout:
    """A parcel handed out at the counter, with the ID check staff recorded if any."""

    order_id: str
    id_check: IdCheck | None


@dataclass(frozen=True, slots=True)
class Presented:
    """What the customer showed at the counter: their order and credential (a token's `cti`)."""

    order_id: str
    attempt: Attempt
    via: str
    cti: bytes | None = None


def receive_parcel(
    conn: sqlite3.Connection,
    label: ParcelLabel,
    size: DoorSize | None,
    *,
    hold_s: float,
    actor: str,
    now: float,
) -> Order:
    """In a transaction: a parcel arrives at the counter. Its order becomes LOADED (no door;
    hold clock starts); an order the hub never announced is created from the label."""
    order = get_order(conn, label.order_id)
    if order is None:
        if size is None:
            raise RequestError("`size` is needed for an order this counter doesn't know")
        ann = Announcement(label.order_id, size, hold_s, parcels=(label.parcel_id,))
        order = announce_order(conn, ann, now=now)
    parcels = tuple(dict.fromkeys((*order.parcels, label.parcel_id)))
    body = {"order": order.order_id, "parcel": label.parcel_id, "door": None}
    if order.state is OrderState.ANNOUNCED:
        received = start_hold(
            conn, replace(order.apply(OrderEvent.LOAD, now), parcels=parcels), now
        )
        kind = "order.loaded"
    elif order.state is OrderState.LOADED and order.kind == "pickup":
        received, kind = replace(order, parcels=parcels), "order.parcel_added"
    else:
        raise TransitionError(order.state.value)
    save_order(conn, received, now=now)
    journal.record(conn, kind, body, now=now, actor=actor, order_id=order.order_id)
    return received


def _check_label(order_id: str, parcels: tuple[str, ...], label: ParcelLabel) -> None:
    if label.order_id != order_id or (parcels and label.parcel_id not in parcels):
        raise AgentError("label and code name different orders", reason=Reason.LABEL_MISMATCH)


def hand_out(
    conn: sqlite3.Connection,
    shown: Presented,
    label: ParcelLabel,
    *,
    actor: str,
    now: float,
) -> Handout | Reason:
    """In a transaction: hand the parcel over, or return the ID-check refusal to raise once the
    recorded outcome has been committed. The order policy table decides
    (`agent.domain.policy`): the customer's credential obeys its row, staff add the ID check."""
    order_id, id_check = shown.order_id, shown.attempt.id_check
    order = get_order(conn, order_id)
    if order is None or order.kind != "pickup":
        raise UnknownOrder(order_id)
    _check_label(order.order_id, order.parcels, label)
    refusal = pickup_refusal(order, shown.attempt, now=now, withdrawn=withdrawal_of(conn, order))
    if shown.cti is not None and refusal is None:
        refusal = Reason.ALREADY_USED if token_spent(conn, shown.cti) else None
    id_checked = Flag.ID_CHECK in flags_of(order.policy) | shown.attempt.extra_flags
    if id_check is not None and id_outcome_to_record(order, shown.attempt, refusal):
        detail = {"outcome": id_check.value}
        journal.append_audit(
            conn, "id_check", now=now, actor=actor, order_id=order_id, detail=detail
        )
        if refusal is not None:
            return refusal
    if refusal is not None:
        raise AgentError(order_id, reason=refusal, ref=support_ref(order_id))
    save_order(conn, order.apply(OrderEvent.COLLECT, now), now=now)
    if shown.cti is not None:
        spend_token(conn, shown.cti, order_id, now, opening_id=None)
    outcome = id_check if id_checked else None
    body = {"order": order_id, "door": None, "via": shown.via, "id_check": outcome}
    journal.record(conn, "order.collected", body, now=now, actor=actor, order_id=order_id)
    return Handout(order_id, outcome)


def _counter_return(
    conn: sqlite3.Connection,
    order_ref: str,
    label: ParcelLabel,
    evidence_sha256: str | None,
    *,
    actor: str,
    via: str,
    now: float,
) -> ReturnGrant:
    _check_label(order_ref, (), label)
    known = returns.get(conn, order_ref)
    size = known.size if known is not None else DoorSize.M
    receipt = accept_return(
        conn,
        order_ref,
        size,
        event=ReturnEvent.HAND_IN_AT_COUNTER,
        door=None,
        via=via,
        now=now,
        evidence_sha256=evidence_sha256,
    )
    grant = ReturnGrant(order_ref, None, receipt)
    record_dropped_off(conn, grant, via=via, actor=actor, now=now)
    return grant


def check_evidence(evidence_sha256: str | None) -> str | None:
    """The evidence hash as given, or RequestError when it is not lower-case SHA-256 hex."""
    if evidence_sha256 is not None and not _SHA256_HEX.fullmatch(evidence_sha256):
        raise RequestError("`evidence_sha256` must be 64 lower-case hex characters")
    return evidence_sha256


def _found_or_refuse(
    conn: sqlite3.Connection,
    find: Callable[[sqlite3.Connection, CodeKeys], _T | None],
    key: CodeKeys,
) -> _T:
    found = find(conn, key)
    if found is None:
        raise UnknownCode()
    return found


class CounterService:
    """Counter operations; every method is one transaction. Callers hold a staff session."""

    def __init__(
        self,
        db: Database,
        clock: Clock,
        *,
        typed_code_key: Callable[[str], CodeKeys],
        attempts: AttemptGate,
        default_hold_s: float,
        verify: TokenVerifier | None = None,
    ) -> None:
        self._verify = verify
        self._db = db
        self._clock = clock
        self._typed_code_key = typed_code_key
        self._attempts = attempts
        self._default_hold_s = default_hold_s

    async def receive(self, label: str, size: DoorSize | None, *, actor: str) -> Order:
        """Records a parcel received at the counter from its label; held for the default hold."""
        return await self._db.run(
            receive_parcel,
            parse_label(label),
            size,
            hold_s=self._default_hold_s,
            actor=actor,
            now=self._clock.now(),
        )

    async def handout(self, shown: Presented, label: str, *, actor: str) -> Handout:
        """Hand out the order the customer's credential names, against its parcel's label."""
        parsed = parse_label(label)
        result = await self._db.run(hand_out, shown, parsed, actor=actor, now=self._clock.now())
        if isinstance(result, Reason):
            raise AgentError(shown.order_id, reason=result, ref=support_ref(shown.order_id))
        return result

    async def handout_with_code(
        self, code: str, label: str, id_check: IdCheck | None, *, actor: str
    ) -> Handout:
        """Hand out the order a typed code names (an unknown code costs an attempt)."""
        parse_label(label)  # a bad label must not count as a wrong code
        order = await self._lookup(code, find_order_by_code_key)
        if order is None:
            raise UnknownCode()
        attempt = Attempt(Credential.TYPED_CODE, Setting.STAFFED, id_check)
        return await self.handout(
            Presented(order.order_id, attempt, "typed_code"), label, actor=actor
        )

    async def handout_with_token(
        self, payload: str, label: str, id_check: IdCheck | None, *, actor: str
    ) -> Handout:
        """The customer's QR (static or live, or a delegate's): verified offline like a scan
        at a locker, then the same policy table, its `cti` spent with the handout."""
        parse_label(label)
        if self._verify is None:
            raise RequestError("this counter does not accept scanned tokens")
        token = self._verify(payload, Purpose.PICKUP)
        attempt = replace(token_attempt(token, Setting.STAFFED), id_check=id_check)
        shown = Presented(token.order_ref, attempt, "token", token.cti)
        return await self.handout(shown, label, actor=actor)

    async def accept_return(
        self, order_ref: str, label: str, evidence_sha256: str | None, *, actor: str, via: str
    ) -> ReturnGrant:
        """A return handed over the counter (`order_ref` from a verified token or typed code)."""
        check_order_ref(order_ref)
        parsed = parse_label(label)
        return await self._db.run(
            _counter_return,
            order_ref,
            parsed,
            check_evidence(evidence_sha256),
            actor=actor,
            via=via,
            now=self._clock.now(),
        )

    async def accept_return_with_code(
        self, code: str, label: str, evidence_sha256: str | None, *, actor: str
    ) -> ReturnGrant:
        """A return handed over the counter with a typed code (an unknown code costs an attempt)."""
        parse_label(label)
        found = await self._lookup(code, find_return_by_code)
        if found is None:
            raise UnknownCode()
        return await self.accept_return(
            found[0], label, evidence_sha256, actor=actor, via="typed_code"
        )

    async def _lookup(
        self, code: str, find: Callable[[sqlite3.Connection, CodeKeys], _T | None]
    ) -> _T | None:
        """`find(conn, key of code)` behind the locker's one attempt budget: an unknown code
        is a failed attempt."""
        try:
            key = self._typed_code_key(code)
        except AgentError:
            return None
        return await self._attempts.run("counter", _found_or_refuse, find, key)
