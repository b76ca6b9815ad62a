"""Customer returns at a locker, and couriers taking out returns and expired parcels.

A return drop-off follows the pickup pattern: reserve a door in one transaction (the return row
is `opening`, the door opening pending), pulse the latch, then record `return.dropped_off` with a
short receipt reference, or free the door, mark it faulted and try another. A crash between the
two leaves the opening to `recover_interrupted_openings` and the return in its door for a courier.

Couriers see what is to be taken (`pickups`) and take it (`collect`): the door opens first, the
order becomes RETRIEVED (or RETURNED when the hub already decided so) only once it has.
"""

from __future__ import annotations

import logging
import secrets
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass

from agent.clock import Clock
from agent.domain.doors import DoorSize, assign_door
from agent.domain.orders import OrderEvent, OrderState
from agent.errors import AgentError, DoorFailed, RequestError
from agent.reasons import Reason
from agent.services.attempts import AttemptGate
from agent.services.door_opener import MAX_DOORS_TRIED, DoorOpener, door_fault, door_opened
from agent.services.loading import ID_PATTERN
from agent.store import journal, lockers
from agent.store.db import Database

_LOG = logging.getLogger(__name__)
_RECEIPT_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"


@dataclass(frozen=True, slots=True)
class ReturnGrant:
    """A return accepted: where it went (None at a counter) and the customer's receipt."""

    order_ref: str
    door: int | None
    receipt: str


@dataclass(frozen=True, slots=True)
class _ReturnReserved:
    grant: ReturnGrant
    opening_id: int


def _new_receipt(conn: sqlite3.Connection) -> str:
    """`R-` and 6 characters: short to read out, not a secret, unique on this device."""
    while True:
        receipt = "R-" + "".join(secrets.choice(_RECEIPT_ALPHABET) for _ in range(6))
        if conn.execute("SELECT 1 FROM returns WHERE receipt = ?", (receipt,)).fetchone() is None:
            return receipt


def check_order_ref(order_ref: str) -> str:
    if not isinstance(order_ref, str) or not ID_PATTERN.fullmatch(order_ref):
        raise RequestError("an order reference is 1-64 of A-Z a-z 0-9 . _ -")
    return order_ref


def accept_return(
    conn: sqlite3.Connection,
    order_ref: str,
    size: DoorSize,
    *,
    state: str,
    door: int | None,
    via: str,
    now: float,
    evidence_sha256: str | None = None,
) -> str:
    """In a transaction: note the return `order_ref` as `state`; returns its receipt.

    Refuses (ALREADY_USED, with the receipt as reference) a return already handed in.
    """
    row = conn.execute("SELECT * FROM returns WHERE order_ref = ?", (order_ref,)).fetchone()
    if row is not None and row["state"] != "expected":
        raise AgentError(order_ref, reason=Reason.ALREADY_USED, ref=row["receipt"] or "")
    receipt = (row["receipt"] if row is not None else None) or _new_receipt(conn)
    conn.execute(
        "INSERT INTO returns (order_ref, size, state, door, receipt, via, evidence_sha256,"
        " created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"
        " ON CONFLICT (order_ref) DO UPDATE SET size = excluded.size, state = excluded.state,"
        " door = excluded.door, receipt = excluded.receipt, via = excluded.via,"
        " evidence_sha256 = excluded.evidence_sha256, updated_at = excluded.updated_at",
        (order_ref, size.value, state, door, receipt, via, evidence_sha256, now, now),
    )
    return receipt


def record_dropped_off(
    conn: sqlite3.Connection, grant: ReturnGrant, *, via: str, actor: str, now: float
) -> None:
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
) -> _ReturnReserved | None:
    doors = [d for d in lockers.list_doors(conn) if d.number not in exclude]
    chosen = assign_door(doors, size, accessible=False)
    if chosen is None:
        body = {"return": order_ref, "size": size.value}
        journal.record(conn, "locker.full", body, now=now, actor=via)
        return None
    receipt = accept_return(
        conn, order_ref, size, state="opening", door=chosen.number, via=via, now=now
    )
    opening = lockers.begin_opening(conn, chosen.number, order_id=None, purpose="return", now=now)
    return _ReturnReserved(ReturnGrant(order_ref, chosen.number, receipt), opening)


def _return_opened(
    conn: sqlite3.Connection, reserved: _ReturnReserved, via: str, now: float
) -> None:
    assert reserved.grant.door is not None  # noqa: S101 - a locker return has a door
    door_opened(conn, reserved.opening_id, reserved.grant.door, now)
    conn.execute(
        "UPDATE returns SET state = 'dropped_off', updated_at = ? WHERE order_ref = ?",
        (now, reserved.grant.order_ref),
    )
    record_dropped_off(conn, reserved.grant, via=via, actor=via, now=now)


def _return_failed(
    conn: sqlite3.Connection, reserved: _ReturnReserved, fault: str, now: float
) -> None:
    assert reserved.grant.door is not None  # noqa: S101 - a locker return has a door
    conn.execute(
        "UPDATE returns SET state = 'expected', door = NULL, updated_at = ? WHERE order_ref = ?",
        (now, reserved.grant.order_ref),
    )
    door_fault(conn, reserved.grant.door, fault, now, opening_id=reserved.opening_id)


def expect_return(
    conn: sqlite3.Connection, order_ref: str, size: DoorSize, code_key: str | None, now: float
) -> None:
    """The hub announces a return (so its typed code works offline). Idempotent."""
    conn.execute(
        "INSERT INTO returns (order_ref, size, state, code_key, created_at, updated_at)"
        " VALUES (?, ?, 'expected', ?, ?, ?) ON CONFLICT (order_ref) DO UPDATE SET"
        " size = excluded.size, code_key = excluded.code_key, updated_at = excluded.updated_at"
        " WHERE returns.state = 'expected'",
        (order_ref, size.value, code_key, now, now),
    )
    journal.append_audit(
        conn, "return.expected", now=now, actor="hub", detail={"return": order_ref}
    )


def recover_interrupted_returns(conn: sqlite3.Connection, now: float) -> int:
    """At start: a return whose door opening never finished may be in its door. It goes on the
    couriers' list, flagged, and the hub is told; nothing is opened again."""
    rows = conn.execute(
        "SELECT order_ref, door, receipt FROM returns WHERE state = 'opening'"
    ).fetchall()
    for order_ref, door, receipt in rows:
        conn.execute(
            "UPDATE returns SET state = 'dropped_off', needs_attention = 'door_open_interrupted',"
            " updated_at = ? WHERE order_ref = ?",
            (now, order_ref),
        )
        body = {"return": order_ref, "door": door, "receipt": receipt}
        journal.record(conn, "return.open_interrupted", body, now=now, door=door)
    return len(rows)


def find_return_by_code(conn: sqlite3.Connection, code_key: str) -> tuple[str, DoorSize] | None:
    row = conn.execute(
        "SELECT order_ref, size, state, receipt FROM returns WHERE code_key = ?", (code_key,)
    ).fetchone()
    if row is None:
        return None
    if row["state"] != "expected":
        raise AgentError(row["order_ref"], reason=Reason.ALREADY_USED, ref=row["receipt"] or "")
    return str(row["order_ref"]), DoorSize(row["size"])


def _find_return_or_refuse(conn: sqlite3.Connection, key: str) -> tuple[str, DoorSize]:
    found = find_return_by_code(conn, key)
    if found is None:
        raise AgentError(reason=Reason.CODE_UNKNOWN)
    return found


class ReturnService:
    """Customer return drop-off into a door (token scan or typed return code)."""

    def __init__(
        self,
        db: Database,
        opener: DoorOpener,
        clock: Clock,
        *,
        typed_code_key: Callable[[str], str],
        attempts: AttemptGate,
    ) -> None:
        self._db = db
        self._opener = opener
        self._clock = clock
        self._typed_code_key = typed_code_key
        self._attempts = attempts

    async def start_return_dropoff(
        self, order_ref: str, size: DoorSize, *, now: float, via: str
    ) -> ReturnGrant:
        """Open a free door of `size` for the verified return `order_ref`; record the drop-off.

        Raises ALREADY_USED (ref = receipt) for a return handed in before, NO_DOOR_AVAILABLE
        (with a `locker.full` event) when no door fits, DOOR_FAILED when doors kept failing.
        """
        check_order_ref(order_ref)
        tried: frozenset[int] = frozenset()
        for _ in range(MAX_DOORS_TRIED):
            reserved = await self._db.run(
                reserve_return, order_ref, size, via=via, now=now, exclude=tried
            )
            if reserved is None:
                raise AgentError(size.value, reason=Reason.NO_DOOR_AVAILABLE)
            assert reserved.grant.door is not None  # noqa: S101 - a locker return has a door
            fault = await self._opener.open(reserved.grant.door)
            if fault is None:
                await self._db.run(_return_opened, reserved, via, self._clock.now())
                return reserved.grant
            await self._db.run(_return_failed, reserved, fault, self._clock.now())
            tried |= {reserved.grant.door}
            now = self._clock.now()
        raise DoorFailed(f"{MAX_DOORS_TRIED} doors failed to open")

    async def start_with_code(self, code: str) -> ReturnGrant:
        """A typed return code (announced by the hub with `expect`); rate-limited like pickups."""
        try:
            key = self._typed_code_key(code)
        except AgentError:
            raise AgentError(reason=Reason.CODE_UNKNOWN) from None
        found = await self._attempts.run("return", _find_return_or_refuse, key)
        return await self.start_return_dropoff(*found, now=self._clock.now(), via="typed_code")

    async def expected_size(self, order_ref: str) -> DoorSize | None:
        """The size the hub announced for this return, if it did."""
        row = await self._db.read(
            lambda conn: conn.execute(
                "SELECT size FROM returns WHERE order_ref = ?", (order_ref,)
            ).fetchone()
        )
        return None if row is None else DoorSize(row[0])

    async def expect(self, order_ref: str, size: DoorSize, code_key: str | None) -> None:
        """For the hub command that announces a return (`code_key`: `code_lookup_key(code)`)."""
        check_order_ref(order_ref)
        await self._db.run(expect_return, order_ref, size, code_key, self._clock.now())


# -- couriers taking parcels out -------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PickupItem:
    """Something a courier is to take out: an `expired` parcel, a `retrieval` the hub ordered
    (reason `return_to_sender` or `cancelled`), or a customer's `return`."""

    kind: str
    ref: str  # the order id, or the return's order reference
    door: int | None  # None at a counter
    reason: str | None = None
    receipt: str | None = None


def list_pickups(conn: sqlite3.Connection) -> list[PickupItem]:
    retrievals = {
        str(r[0]): str(r[1]) for r in conn.execute("SELECT order_id, reason FROM retrievals")
    }
    items = []
    for order in lockers.orders_in_states(conn, (OrderState.LOADED, OrderState.EXPIRED)):
        reason = retrievals.get(order.order_id)
        if reason is not None:
            items.append(PickupItem("retrieval", order.order_id, order.door, reason))
        elif order.state is OrderState.EXPIRED:
            items.append(PickupItem("expired", order.order_id, order.door, "expired"))
    rows = conn.execute(
        "SELECT order_ref, door, receipt FROM returns WHERE state = 'dropped_off'"
        " ORDER BY order_ref"
    )
    items.extend(PickupItem("return", str(r[0]), r[1], None, r[2]) for r in rows)
    return items


def _find_item(conn: sqlite3.Connection, door: int | None, ref: str | None) -> PickupItem:
    for item in list_pickups(conn):
        if (door is not None and item.door == door) or (ref is not None and item.ref == ref):
            return item
    raise AgentError(f"nothing to collect at {door or ref}", reason=Reason.NOT_FOUND)


def _begin_take(
    conn: sqlite3.Connection, door: int | None, ref: str | None, with_door: bool, now: float
) -> tuple[PickupItem, int | None]:
    item = _find_item(conn, door, ref)
    if item.door is None or not with_door:
        return item, None
    in_progress = conn.execute(
        "SELECT 1 FROM door_openings WHERE door = ? AND purpose = 'retrieve' AND result IS NULL",
        (item.door,),
    ).fetchone()
    if in_progress is not None:
        # a second courier scan while the first opening is under way: one pulse is enough
        raise AgentError("a collection of this door is under way", reason=Reason.ALREADY_USED)
    order_id = None if item.kind == "return" else item.ref
    return item, lockers.begin_opening(
        conn, item.door, order_id=order_id, purpose="retrieve", now=now
    )


def record_taken(
    conn: sqlite3.Connection, item: PickupItem, opening_id: int | None, actor: str, now: float
) -> None:
    """In a transaction: the courier has it. Returns are collected; orders RETRIEVED, and
    RETURNED at once when the hub already decided to send them back."""
    if opening_id is not None and item.door is not None:
        door_opened(conn, opening_id, item.door, now)
    if item.kind == "return":
        cur = conn.execute(
            "UPDATE returns SET state = 'collected', updated_at = ?"
            " WHERE order_ref = ? AND state = 'dropped_off'",
            (now, item.ref),
        )
        if cur.rowcount:
            body = {"return": item.ref, "door": item.door, "receipt": item.receipt}
            journal.record(conn, "return.collected", body, now=now, actor=actor, door=item.door)
        return
    order = lockers.get_order(conn, item.ref)
    if order is None or order.state not in (OrderState.LOADED, OrderState.EXPIRED):
        return  # taken meanwhile by a concurrent request: nothing more to record
    taken = order.apply(OrderEvent.RETRIEVE, now)
    body = {"order": item.ref, "door": item.door, "reason": item.reason}
    journal.record(
        conn, "order.retrieved", body, now=now, actor=actor, order_id=item.ref, door=item.door
    )
    if item.reason == "return_to_sender":
        taken = taken.apply(OrderEvent.RETURN_TO_SENDER, now)
        journal.record(conn, "order.returned", {"order": item.ref}, now=now, order_id=item.ref)
    lockers.save_order(conn, taken, now=now)


def _take_failed(
    conn: sqlite3.Connection, door: int, opening_id: int, fault: str, now: float
) -> None:
    door_fault(conn, door, fault, now, opening_id=opening_id)


class CollectionService:
    """What couriers take out, and taking it: through a door, or over the counter (no opener)."""

    def __init__(self, db: Database, opener: DoorOpener | None, clock: Clock) -> None:
        self._db = db
        self._opener = opener
        self._clock = clock

    async def pickups(self) -> list[PickupItem]:
        return await self._db.read(list_pickups)

    async def collect(self, *, door: int | None, ref: str | None, actor: str) -> PickupItem:
        """Open the door of one item (by door number or by order/return reference) and record
        that the courier took it. DOOR_FAILED (door marked faulted) if it would not open."""
        item, opening = await self._db.run(
            _begin_take, door, ref, self._opener is not None, self._clock.now()
        )
        if self._opener is not None and item.door is not None and opening is not None:
            fault = await self._opener.open(item.door)
            if fault is not None:
                await self._db.run(_take_failed, item.door, opening, fault, self._clock.now())
                raise DoorFailed(fault, ref=item.ref[-6:].upper())
        await self._db.run(record_taken, item, opening, actor, self._clock.now())
        _LOG.info("courier took a %s item (door %s)", item.kind, item.door)
        return item
