"""Staff tools, and what a person at the kiosk is told when a door misbehaves.

`StaffService`: open a door with a reason, enable/disable a door, clear a fault, inventory.
Every action is one transaction with `journal.record(..., actor=<staff id>)`, so it is audited
and sent to the hub. `DoorHelpService`: the door's state for the kiosk to poll after a pickup,
and the customer's "the door did not open" report within the reopen grace period.
"""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass

from agent.domain.clock import Clock
from agent.domain.doors import Door, OpeningResult
from agent.domain.labels import support_ref
from agent.domain.orders import Order, OrderState
from agent.domain.policy import (
    Attempt,
    Credential,
    IdOutcome,
    Setting,
    Withdrawal,
    id_outcome_to_record,
    order_refusal,
    pickup_refusal,
)
from agent.errors import AgentError, DoorFailed
from agent.evidence.recorder import EvidenceRecorder, NoEvidence
from agent.reasons import Reason
from agent.services.attempts import AttemptGate
from agent.services.pickup import (
    PickupGrant,
    PickupResult,
    PickupService,
    authorise_collect,
)
from agent.services.staff_inventory import door_inventory
from agent.services.supervision import DoorCallback, DoorSupervisor
from agent.services.supervision_records import JAMMED
from agent.store import journal
from agent.store.db import Database
from agent.store.doors import begin_opening, finish_opening, get_door, save_door
from agent.store.orders import (
    clear_attention_in_door,
    find_order_by_code_key,
    flag_order,
    get_order,
    latest_order_id_in_door,
    withdrawal_of,
)
from hardware.doors.port import DoorController, DoorSensors, SensorState
from hardware.errors import HardwareError, SensorError

_LOG = logging.getLogger(__name__)


def require_door(conn: sqlite3.Connection, door: int) -> Door:
    found = get_door(conn, door)
    if found is None:
        raise AgentError(str(door), reason=Reason.DOOR_UNKNOWN)
    return found


def _begin_staff_open(
    conn: sqlite3.Connection, door: int, *, actor: str, reason: str, by: str, now: float
) -> int:
    require_door(conn, door)
    opening = begin_opening(conn, door, order_id=None, purpose="staff", now=now)
    body = {"door": door, "reason": reason, "by": by}
    journal.record(conn, "staff.open_door", body, now=now, actor=actor, door=door)
    return opening


def _finish_staff_open(
    conn: sqlite3.Connection,
    opening: int,
    door: int,
    *,
    actor: str,
    by: str,
    error: str | None,
    now: float,
) -> None:
    finish_opening(conn, opening, OpeningResult.FAILED if error else OpeningResult.OPENED, now)
    if error is None:
        journal.append_audit(conn, "door.opened", now=now, actor=actor, door=door)
    else:
        body = {"door": door, "detail": error, "by": by}
        journal.record(conn, "door.open_failed", body, now=now, actor=actor, door=door)


def _authorise_for_customer(
    conn: sqlite3.Connection, order_id: str, attempt: Attempt, *, actor: str, now: float
) -> PickupGrant | Reason:
    """In a transaction: staff open an order's door for its customer. The order policy table
    decides (staff vouch for the holder; an ID-check order needs the outcome `passed`, which is
    recorded even when it refuses). Returns the refusal to raise after committing the outcome."""
    order = get_order(conn, order_id)
    if order is None or order.kind != "pickup":
        raise AgentError(order_id, reason=Reason.ORDER_UNKNOWN)
    refusal = pickup_refusal(order, attempt, now=now, withdrawn=withdrawal_of(conn, order))
    if attempt.id_check is not None and id_outcome_to_record(order, attempt, refusal):
        detail = {"outcome": attempt.id_check.value}
        journal.append_audit(
            conn, "id_check", now=now, actor=actor, order_id=order_id, detail=detail
        )
    if refusal is not None:
        return refusal
    return authorise_collect(conn, order, via="staff", now=now, attempt=attempt)


def _set_enabled(
    conn: sqlite3.Connection, door: int, enabled: bool, *, actor: str, reason: str, now: float
) -> None:
    save_door(conn, require_door(conn, door).with_enabled(enabled))
    kind = "staff.enable_door" if enabled else "staff.disable_door"
    journal.record(conn, kind, {"door": door, "reason": reason}, now=now, actor=actor, door=door)


def _clear_fault(conn: sqlite3.Connection, door: int, *, actor: str, now: float) -> str:
    faulted = require_door(conn, door)
    fault = faulted.fault
    save_door(conn, faulted.fault_cleared())
    # The parcels behind a jammed door were flagged for the staff who now dealt with it.
    clear_attention_in_door(conn, door, "door_jammed", now)
    body = {"door": door, "fault": fault}
    journal.record(conn, "staff.clear_fault", body, now=now, actor=actor, door=door)
    return str(fault)


class StaffService:
    """Staff actions on doors. `on_fault_cleared(door, now)` is awaited after a fault was
    cleared (e.g. to resume the holds that the fault paused)."""

    def __init__(
        self,
        db: Database,
        doors: DoorController,
        sensors: DoorSensors,
        clock: Clock,
        *,
        on_fault_cleared: DoorCallback | None = None,
        pickup: PickupService | None = None,
    ) -> None:
        self._pickup = pickup
        self._db = db
        self._doors = doors
        self._sensors = sensors
        self._clock = clock
        self._on_fault_cleared = on_fault_cleared

    async def open_door(self, actor: str, door: int, reason: str, *, by: str = "staff") -> None:
        """Record the intent, pulse the latch, record the result. DOOR_FAILED if it failed.

        `by` tells the hub who asked: `staff` at the locker, or `hub` (a signed `door.open`)."""
        opening = await self._db.run(
            _begin_staff_open, door, actor=actor, reason=reason, by=by, now=self._clock.now()
        )
        error = None
        try:
            await self._doors.open(door)
        except HardwareError as err:
            error = str(err)
        await self._db.run(
            _finish_staff_open, opening, door, actor=actor, by=by, error=error,
            now=self._clock.now(),
        )  # fmt: skip
        if error is not None:
            raise DoorFailed(error, ref=f"D-{door}")

    async def open_for_customer(
        self, actor: str, order_id: str, id_check: IdOutcome | None
    ) -> PickupResult:
        """Open an order's door for its customer and hand the parcel out (the same atomic
        collect and door path as a pickup), if the order policy table allows it."""
        if self._pickup is None:
            raise AgentError("no pickup service", reason=Reason.ORDER_NOT_COLLECTABLE)
        attempt = Attempt(Credential.STAFF, Setting.STAFFED, id_check)
        grant = await self._db.run(
            _authorise_for_customer, order_id, attempt, actor=actor, now=self._clock.now()
        )
        if isinstance(grant, Reason):
            raise AgentError(order_id, reason=grant, ref=support_ref(order_id))
        return await self._pickup.open_granted(grant)

    async def open_for_hub(self, actor: str, door: int, reason: str) -> None:
        """A hub-signed `door.open`: a staff opening whose events say `by: hub`."""
        await self.open_door(actor, door, reason, by="hub")

    async def set_enabled(self, actor: str, door: int, *, enabled: bool, reason: str) -> None:
        await self._db.run(
            _set_enabled, door, enabled, actor=actor, reason=reason, now=self._clock.now()
        )

    async def clear_fault(self, actor: str, door: int) -> str:
        """Clear the door's fault (DOOR_NOT_FAULTED if it has none); returns the fault."""
        now = self._clock.now()
        fault = await self._db.run(_clear_fault, door, actor=actor, now=now)
        if self._on_fault_cleared is not None:
            try:
                await self._on_fault_cleared(door, now)
            except Exception:
                _LOG.exception("door %s: the fault-cleared callback failed", door)
        return fault

    async def inventory(self) -> dict[str, object]:
        """Every door with its orders, states, flags, live sensor and what needs attention."""
        found = await self._db.read(door_inventory, self._clock.now())
        readings = await self._sensors.read_all()
        doors = found["doors"]
        assert isinstance(doors, list)  # noqa: S101 - built by _inventory
        for entry in doors:
            entry["sensor"] = readings.get(entry["door"], SensorState.UNKNOWN).value
        return found


# -- the customer's side: door state and "the door did not open" -----------------------------------

_MESSAGES = {
    "closed": "Door {door} is closed.",
    "open": "Door {door} is open. Please close it when you're done.",
    "left_open": "Please close door {door}.",
    "jammed": "Door {door} didn't open. Your parcel is safe and stays reserved for you — "
    "please contact staff (ref {ref}).",
    "out_of_service": "Door {door} is out of service.",
    "unknown": "We can't check door {door} right now. Please contact staff (ref {ref}).",
    "was_open": "Door {door} did open. If you closed it too soon, enter your code again to "
    "reopen it once.",
    "collectable": "Your parcel is still in door {door} — enter your code to open it.",
}


@dataclass(frozen=True, slots=True)
class DoorStatus:
    """What the kiosk shows for a door: closed|open|left_open|jammed|out_of_service|unknown."""

    door: int
    state: str
    sensor: str
    open_s: float | None
    message: str


@dataclass(frozen=True, slots=True)
class HelpOutcome:
    """The answer to "the door did not open": jammed|open|was_open|unknown|collectable."""

    result: str
    door: int
    message: str


def _message(state: str, door: int, order_id: str | None) -> str:
    ref = support_ref(order_id) if order_id else "-"
    return _MESSAGES[state].format(door=door, ref=ref)


def _door_with_order(conn: sqlite3.Connection, door: int) -> tuple[Door, str | None]:
    return require_door(conn, door), latest_order_id_in_door(conn, door)


@dataclass(frozen=True, slots=True)
class _Reported:
    order: Order
    fault: str | None
    opening_id: int | None
    finished_at: float | None
    seen_open: bool
    withdrawn: Withdrawal | None = None


def _reported_order(conn: sqlite3.Connection, code_key: str) -> _Reported | None:
    order = find_order_by_code_key(conn, code_key)
    return None if order is None else _report_of(conn, order)


def _reported_order_by_id(conn: sqlite3.Connection, order_id: str) -> _Reported | None:
    order = get_order(conn, order_id)
    return None if order is None else _report_of(conn, order)


def _report_of(conn: sqlite3.Connection, order: Order) -> _Reported:
    fault = None
    if order.door is not None:
        fault = require_door(conn, order.door).fault
    last = conn.execute(
        "SELECT id, finished_at, seen_open_at FROM door_openings WHERE order_id = ?"
        " AND purpose IN ('pickup', 'reopen') AND result = 'opened' ORDER BY id DESC LIMIT 1",
        (order.order_id,),
    ).fetchone()
    withdrawn = withdrawal_of(conn, order)
    if last is None:
        return _Reported(order, fault, None, None, seen_open=False, withdrawn=withdrawn)
    seen = last[2] is not None
    return _Reported(order, fault, int(last[0]), last[1], seen_open=seen, withdrawn=withdrawn)


_REPORT = Attempt(Credential.TYPED_CODE, Setting.UNATTENDED)


def _reported_or_refuse(conn: sqlite3.Connection, code_key: str) -> _Reported:
    found = _reported_order(conn, code_key)
    if found is None or found.order.door is None:
        raise AgentError(reason=Reason.CODE_UNKNOWN)
    return found


class DoorHelpService:
    """Door state for the kiosk, and the customer's report that a door did not open.

    A report is accepted with the order's typed code within `grace_s` of the opening. If the
    sensor reads closed and was never seen open since the command, the door is treated as jammed
    (`DoorSupervisor.report_jam`: door faulted, pickup undone, parcel stays collectable).
    Reports go through the locker's one typed-code attempt budget (`AttemptGate`).
    """

    def __init__(
        self,
        db: Database,
        sensors: DoorSensors,
        clock: Clock,
        supervisor: DoorSupervisor,
        *,
        typed_code_key: Callable[[str], str],
        attempts: AttemptGate,
        grace_s: float = 60.0,
        evidence: EvidenceRecorder | None = None,
    ) -> None:
        self._db = db
        self._sensors = sensors
        self._clock = clock
        self._supervisor = supervisor
        self._evidence = evidence or NoEvidence()
        self._typed_code_key = typed_code_key
        self._grace_s = grace_s
        self._attempts = attempts

    async def door_status(self, door: int) -> DoorStatus:
        found, order_id = await self._db.read(_door_with_order, door)
        sensor = await self._read(door)
        _, open_s, left_open = self._supervisor.door_condition(door)
        if found.fault == JAMMED:
            state = "jammed"
        elif found.fault is not None:
            state = "out_of_service"
        elif sensor is SensorState.UNKNOWN:
            state = "unknown"
        elif sensor is SensorState.OPEN:
            state = "left_open" if left_open else "open"
        else:
            state, open_s = "closed", None
        return DoorStatus(door, state, sensor.value, open_s, _message(state, door, order_id))

    async def door_did_not_open(self, code: str) -> HelpOutcome:
        now = self._clock.now()
        try:
            key = self._typed_code_key(code)
        except AgentError:
            raise AgentError(reason=Reason.CODE_UNKNOWN) from None
        found = await self._attempts.run("door_did_not_open", _reported_or_refuse, key)
        # the report is a typed code at a door: the order policy table decides as for a pickup
        # (an opening a restart cut off is staff's to judge, never the customer's word)
        order = found.order
        refusal = pickup_refusal(order, _REPORT, now=now, withdrawn=found.withdrawn, reported=True)
        return await self._answer(found, now, refusal)

    async def door_did_not_open_for_order(self, order_id: str) -> HelpOutcome:
        """The same report for a pickup that had no typed code (a camera scan), for the order a
        kiosk help ticket stands for (`ScanFeed.order_for_help`). The token's credential was
        checked when the door opened; the order's own rules are asked again."""
        found = await self._db.read(_reported_order_by_id, order_id)
        if found is None or found.order.door is None:
            raise AgentError(reason=Reason.GRACE_EXPIRED)
        now = self._clock.now()
        refusal = order_refusal(found.order, now=now, withdrawn=found.withdrawn, reported=True)
        return await self._answer(found, now, refusal)

    async def _answer(self, found: _Reported, now: float, refusal: Reason | None) -> HelpOutcome:
        order, door = found.order, found.order.door
        assert door is not None  # noqa: S101 - checked by the callers
        if refusal is not None:
            raise AgentError(reason=refusal, ref=support_ref(order.order_id))
        if order.state is OrderState.LOADED:
            result = "jammed" if found.fault == JAMMED else "collectable"
            return HelpOutcome(result, door, _message(result, door, order.order_id))
        if (
            order.state is not OrderState.COLLECTED
            or found.opening_id is None
            or found.finished_at is None
            or now - found.finished_at > self._grace_s
        ):
            raise AgentError(reason=Reason.GRACE_EXPIRED, ref=support_ref(order.order_id))
        result = await self._judge_report(found, door)
        await self._evidence.photograph(
            "door_not_opened", door=door, order_ref=order.order_id, actor="customer"
        )
        return HelpOutcome(result, door, _message(result, door, order.order_id))

    async def _judge_report(self, found: _Reported, door: int) -> str:
        sensor = await self._read(door)
        if sensor is SensorState.OPEN:
            return "open"
        if found.seen_open:
            return "was_open"
        if sensor is SensorState.UNKNOWN:
            await self._db.run(_flag_unverified, found.order.order_id, door, self._clock.now())
            return "unknown"
        assert found.opening_id is not None  # noqa: S101 - checked by the caller
        await self._supervisor.report_jam(found.opening_id, detected_by="customer")
        return "jammed"

    async def _read(self, door: int) -> SensorState:
        try:
            return await self._sensors.read(door)
        except SensorError:
            return SensorState.UNKNOWN


def _flag_unverified(conn: sqlite3.Connection, order_id: str, door: int, now: float) -> None:
    flag_order(conn, order_id, "door_unverified", now)
    body = {"order": order_id, "door": door}
    journal.record(
        conn, "door.reported_not_opened", body, now=now, actor="customer", order_id=order_id
    )
