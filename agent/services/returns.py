"""Customer returns at a locker: announced returns, typed return codes, reusable packaging.

A return drop-off follows the pickup pattern: reserve a door in one transaction (the return row
is `opening`, the door opening pending), pulse the latch, then record `return.dropped_off` with a
short receipt reference, or free the door, mark it faulted and try another. A crash between the
two leaves the opening to `recover_interrupted_openings` and the return in its door for a courier.

A packaging return (a reusable liner or box, docs/operations.md) needs no order: the customer
asks for a door, the locker counts the items and reports `packaging.returned` (with a receipt and
an optional opaque credit reference) so the hub can credit the customer. Couriers take returns out
through `agent.services.collection`. As it needs no credential it never takes the last free doors
of a size (`agent.domain.packaging`), and its openings are limited per origin (kiosk, network) by
a persisted budget (`PACKAGING_POLICY`), both decided in the transaction that reserves the door.
"""

from __future__ import annotations

import logging
import secrets
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass, field

from agent.domain.attempts import AttemptPolicy, retry_after, spend_failure
from agent.domain.clock import Clock
from agent.domain.doors import DoorSize, assign_door
from agent.domain.labels import ID_PATTERN
from agent.domain.packaging import DoorReserve, doors_open_to_anonymous
from agent.domain.returns import (
    OPEN_INTERRUPTED,
    ReturnEvent,
    ReturnState,
    hand_in,
    next_return_state,
)
from agent.errors import (
    AgentError,
    DoorsReserved,
    NoDoorAvailable,
    RateLimited,
    RequestError,
    UnknownCode,
)
from agent.evidence.recorder import EvidenceRecorder, NoEvidence
from agent.services.attempts import AttemptGate, scope_of_request
from agent.services.door_opener import DoorOpener, open_one_of_doors
from agent.store import attempts as attempt_budgets
from agent.store import journal, returns
from agent.store.db import Database
from agent.store.doors import begin_opening, list_doors
from agent.store.openings import door_fault, door_opened
from agent.tokens.typed_codes import CodeKeys

_LOG = logging.getLogger(__name__)
_RECEIPT_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
#: Packaging drop-offs need no credential, so their door openings are limited, per origin and
#: persisted: 5 back to back, then one a minute, and at most 120 a day (5 an hour on average).
PACKAGING_POLICY = AttemptPolicy(burst=5, refill_s=60.0, daily_budget=120)
PACKAGING_SCOPE = "packaging"


@dataclass(frozen=True, slots=True)
class ReturnGrant:
    """A return accepted: where it went (None at a counter) and the customer's receipt."""

    order_ref: str
    door: int | None
    receipt: str


@dataclass(frozen=True, slots=True)
class Packaging:
    """A packaging return: how many items, and the customer's opaque credit reference."""

    items: int
    credit_ref: str | None = None
    budget_scope: str = PACKAGING_SCOPE  # the stored budget its opening spends
    reserve: DoorReserve = field(default_factory=DoorReserve)  # the doors it must leave free


@dataclass(frozen=True, slots=True)
class _ReturnReserved:
    grant: ReturnGrant
    opening_id: int
    packaging: Packaging | None = None


def _new_receipt(conn: sqlite3.Connection) -> str:
    """`R-` and 6 characters: short to read out, not a secret, unique on this device."""
    while True:
        receipt = "R-" + "".join(secrets.choice(_RECEIPT_ALPHABET) for _ in range(6))
        if not returns.receipt_taken(conn, receipt):
            return receipt


def check_order_ref(order_ref: str) -> str:
    """The order reference as given, or RequestError when it is not a valid id."""
    if not isinstance(order_ref, str) or not ID_PATTERN.fullmatch(order_ref):
        raise RequestError("an order reference is 1-64 of A-Z a-z 0-9 . _ -")
    return order_ref


def accept_return(
    conn: sqlite3.Connection,
    order_ref: str,
    size: DoorSize,
    *,
    event: ReturnEvent,
    door: int | None,
    via: str,
    now: float,
    evidence_sha256: str | None = None,
) -> str:
    """In a transaction: hand in the return `order_ref` by `event`; returns its receipt.

    Refuses (ALREADY_USED, with the receipt as reference) a return already handed in.
    """
    known = returns.get(conn, order_ref)
    if known is not None:
        hand_in(order_ref, known.state, known.receipt)
    state = next_return_state(ReturnState.EXPECTED, event)
    receipt = (known.receipt if known is not None else None) or _new_receipt(conn)
    returns.put_handed_in(
        conn, returns.HandIn(order_ref, size, state, door, receipt, via, evidence_sha256), now
    )
    return receipt


def record_dropped_off(
    conn: sqlite3.Connection, grant: ReturnGrant, *, via: str, actor: str, now: float
) -> None:
    """Journals a return dropped off: its door, receipt and how it came in."""
    body = {"return": grant.order_ref, "door": grant.door, "receipt": grant.receipt, "via": via}
    journal.record(conn, "return.dropped_off", body, now=now, actor=actor, door=grant.door)


def reserve_return(
    conn: sqlite3.Connection,
    order_ref: str,
    size: DoorSize,
    *,
    via: str,
    now: float,
    exclude: frozenset[int],
    packaging: Packaging | None = None,
) -> _ReturnReserved | None:
    """Chooses a door for a return and starts its opening; None (`locker.full`) if none fits.

    A packaging drop-off also gets DOORS_RESERVED when only the reserve is free, and spends its
    budget on its first door (RATE_LIMITED, nothing reserved, while that is spent)."""
    every_door = list_doors(conn)
    doors = [d for d in every_door if d.number not in exclude]
    chosen = assign_door(doors, size, accessible=False)
    if chosen is None:
        body = {"return": order_ref, "size": size.value}
        journal.record(conn, "locker.full", body, now=now, actor=via)
        return None
    if packaging is not None:
        allowed = doors_open_to_anonymous(every_door, packaging.reserve)
        chosen = assign_door(
            [d for d in allowed if d.number not in exclude], size, accessible=False
        )
        if chosen is None:
            raise DoorsReserved(size.value)
        if not exclude:  # a retry after a failed door is the same drop-off
            _spend_packaging_budget(conn, packaging.budget_scope, now)
    receipt = accept_return(
        conn, order_ref, size, event=ReturnEvent.OPEN_DOOR, door=chosen.number, via=via, now=now
    )
    if packaging is not None:
        returns.mark_packaging(conn, order_ref, packaging.items, packaging.credit_ref)
    opening = begin_opening(conn, chosen.number, order_id=None, purpose="return", now=now)
    return _ReturnReserved(ReturnGrant(order_ref, chosen.number, receipt), opening, packaging)


def _spend_packaging_budget(conn: sqlite3.Connection, scope: str, now: float) -> None:
    state = attempt_budgets.load_budget(conn, PACKAGING_POLICY, now, scope)
    wait = retry_after(state, PACKAGING_POLICY, now)
    if wait > 0:
        raise RateLimited(wait)
    attempt_budgets.save_budget(conn, spend_failure(state, PACKAGING_POLICY, now), scope)


def _return_opened(
    conn: sqlite3.Connection, reserved: _ReturnReserved, via: str, now: float
) -> None:
    assert reserved.grant.door is not None  # noqa: S101 - a locker return has a door
    door_opened(conn, reserved.opening_id, reserved.grant.door, now)
    state = next_return_state(ReturnState.OPENING, ReturnEvent.DOOR_OPENED)
    returns.set_state(conn, reserved.grant.order_ref, state, now)
    if reserved.packaging is not None:
        _record_packaging(conn, reserved.grant, reserved.packaging, now)
    else:
        record_dropped_off(conn, reserved.grant, via=via, actor=via, now=now)


def _record_packaging(
    conn: sqlite3.Connection, grant: ReturnGrant, packaging: Packaging, now: float
) -> None:
    total = returns.packaging_items_handed_in(conn)
    body = {
        "return": grant.order_ref,
        "door": grant.door,
        "receipt": grant.receipt,
        "items": packaging.items,
        "credit_ref": packaging.credit_ref,
        "total_items": total,
    }
    journal.record(conn, "packaging.returned", body, now=now, actor="customer", door=grant.door)


def _return_failed(
    conn: sqlite3.Connection, reserved: _ReturnReserved, fault: str, now: float
) -> None:
    assert reserved.grant.door is not None  # noqa: S101 - a locker return has a door
    if reserved.packaging is not None:  # nothing was announced: nothing to keep
        returns.delete(conn, reserved.grant.order_ref)
    else:
        state = next_return_state(ReturnState.OPENING, ReturnEvent.DOOR_FAILED)
        returns.free_door(conn, reserved.grant.order_ref, state, now)
    door_fault(conn, reserved.grant.door, fault, now, opening_id=reserved.opening_id)


def expect_return(
    conn: sqlite3.Connection, order_ref: str, size: DoorSize, code_key: str | None, now: float
) -> None:
    """The hub announces a return (so its typed code works offline). Idempotent."""
    returns.expect(conn, order_ref, size, code_key, now)
    journal.append_audit(
        conn, "return.expected", now=now, actor="hub", detail={"return": order_ref}
    )


def recover_interrupted_returns(conn: sqlite3.Connection, now: float) -> int:
    """At start: a return whose door opening never finished may be in its door. It goes on the
    couriers' list, flagged, and the hub is told; nothing is opened again."""
    cut_short = returns.in_state(conn, ReturnState.OPENING)
    for ret in cut_short:
        state = next_return_state(ret.state, ReturnEvent.OPEN_INTERRUPTED)
        returns.set_state(conn, ret.order_ref, state, now, needs_attention=OPEN_INTERRUPTED)
        body = {"return": ret.order_ref, "door": ret.door, "receipt": ret.receipt}
        journal.record(conn, "return.open_interrupted", body, now=now, door=ret.door)
    return len(cut_short)


def find_return_by_code(
    conn: sqlite3.Connection, code_keys: CodeKeys
) -> tuple[str, DoorSize] | None:
    """The return a typed code names, as (order reference, size); refused if handed in before."""
    found = returns.find_by_code_key(conn, code_keys)
    if found is None:
        return None
    hand_in(found.order_ref, found.state, found.receipt)
    return found.order_ref, found.size


def _find_return_or_refuse(conn: sqlite3.Connection, key: CodeKeys) -> tuple[str, DoorSize]:
    found = find_return_by_code(conn, key)
    if found is None:
        raise UnknownCode()
    return found


def _door_of(reserved: _ReturnReserved) -> int:
    assert reserved.grant.door is not None  # noqa: S101 - a locker return has a door
    return reserved.grant.door


class ReturnService:
    """Customer return drop-off into a door (token scan or typed return code)."""

    def __init__(
        self,
        db: Database,
        opener: DoorOpener,
        clock: Clock,
        *,
        typed_code_key: Callable[[str], CodeKeys],
        attempts: AttemptGate,
        evidence: EvidenceRecorder | None = None,
        packaging_reserve: DoorReserve | None = None,
    ) -> None:
        self._db = db
        self._packaging_reserve = packaging_reserve or DoorReserve()
        self._evidence = evidence or NoEvidence()
        self._opener = opener
        self._clock = clock
        self._typed_code_key = typed_code_key
        self._attempts = attempts

    async def start_return_dropoff(
        self,
        order_ref: str,
        size: DoorSize,
        *,
        now: float,
        via: str,
        packaging: Packaging | None = None,
    ) -> ReturnGrant:
        """Open a free door of `size` for the verified return `order_ref`; record the drop-off.

        Raises ALREADY_USED (ref = receipt) for a return handed in before, NO_DOOR_AVAILABLE
        (with a `locker.full` event) when no door fits, DOOR_FAILED when doors kept failing.
        """
        check_order_ref(order_ref)

        async def reserve(tried: frozenset[int]) -> _ReturnReserved:
            reserved = await self._db.run(
                reserve_return,
                order_ref,
                size,
                via=via,
                now=self._clock.now() if tried else now,
                exclude=tried,
                packaging=packaging,
            )
            if reserved is None:
                raise NoDoorAvailable(size.value)
            return reserved

        async def failed(reserved: _ReturnReserved, fault: str) -> None:
            await self._db.run(_return_failed, reserved, fault, self._clock.now())

        reserved = await open_one_of_doors(self._opener, reserve, _door_of, failed)
        await self._db.run(_return_opened, reserved, via, self._clock.now())
        door = _door_of(reserved)
        await self._evidence.door_opened("return_dropoff", door=door, order_ref=order_ref)
        return reserved.grant

    async def start_with_code(self, code: str) -> ReturnGrant:
        """A typed return code (announced by the hub with `expect`); rate-limited like pickups."""
        try:
            key = self._typed_code_key(code)
        except AgentError:
            raise UnknownCode() from None
        found = await self._attempts.run("return", _find_return_or_refuse, key)
        return await self.start_return_dropoff(*found, now=self._clock.now(), via="typed_code")

    async def start_packaging(
        self, items: int, credit_ref: str | None, size: DoorSize = DoorSize.S
    ) -> ReturnGrant:
        """Open a door for reusable packaging (no order needed) and report it for credit.

        It never takes the last free doors of a size (DOORS_RESERVED) and its openings spend
        the budget of the request's origin (RATE_LIMITED with the honest wait), both checked
        in the transaction that reserves the door."""
        if not 1 <= items <= 50:
            raise RequestError("items must be a whole number from 1 to 50")
        if credit_ref is not None:
            check_order_ref(credit_ref)
        now = self._clock.now()
        scope = scope_of_request(PACKAGING_SCOPE)
        packaging = Packaging(items, credit_ref, scope, self._packaging_reserve)
        order_ref = "PKG-" + secrets.token_hex(6).upper()
        return await self.start_return_dropoff(
            order_ref, size, now=now, via="packaging", packaging=packaging
        )

    async def expected_size(self, order_ref: str) -> DoorSize | None:
        """The size the hub announced for this return, if it did."""
        found = await self._db.read(returns.get, order_ref)
        return None if found is None else found.size

    async def expect(self, order_ref: str, size: DoorSize, code_key: str | None) -> None:
        """For the hub command that announces a return (`code_key`: `code_lookup_key(code)`)."""
        check_order_ref(order_ref)
        await self._db.run(expect_return, order_ref, size, code_key, self._clock.now())
