"""Staff tools: open a door with a reason, enable/disable a door, clear a fault, inventory.

Every action is one transaction with `journal.record(..., actor=<staff id>)`, so it is audited
and sent to the hub. What a person at the kiosk is told when a door misbehaves is
`agent/services/door_help.py`.
"""

from __future__ import annotations

import logging
import sqlite3

from agent.domain.clock import Clock
from agent.domain.doors import OpeningResult
from agent.domain.labels import support_ref
from agent.domain.policy import (
    Attempt,
    Credential,
    IdOutcome,
    Setting,
    id_outcome_to_record,
    pickup_refusal,
)
from agent.errors import AgentError, DoorFailed, UnknownOrder
from agent.reasons import Reason
from agent.services.pickup import (
    PickupGrant,
    PickupResult,
    PickupService,
    authorise_collect,
)
from agent.services.staff_inventory import door_inventory
from agent.services.supervision import DoorCallback
from agent.store import journal
from agent.store.db import Database
from agent.store.doors import begin_opening, finish_opening, require_door, save_door
from agent.store.orders import (
    clear_attention_in_door,
    get_order,
    withdrawal_of,
)
from hardware.doors.port import DoorController, DoorSensors, SensorState
from hardware.errors import HardwareError

_LOG = logging.getLogger(__name__)


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
        raise UnknownOrder(order_id)
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
        """Takes a door out of assignment, or puts it back, with the reason in the audit."""
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
