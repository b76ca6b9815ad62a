"""What a person at the kiosk is told when a door misbehaves.

`DoorHelpService`: the door's state for the kiosk to poll after a pickup, and the customer's
"the door did not open" report within the reopen grace period.
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
    Setting,
    Withdrawal,
    order_refusal,
    pickup_refusal,
)
from agent.errors import AgentError, UnknownCode
from agent.evidence.recorder import EvidenceRecorder, NoEvidence
from agent.reasons import Reason
from agent.services.attempts import AttemptGate
from agent.services.damage import DamageReport, report_damage
from agent.services.supervision import DoorSupervisor
from agent.services.supervision_records import JAMMED
from agent.store import journal
from agent.store.db import Database
from agent.store.doors import openings_of_order, require_door
from agent.store.orders import (
    find_order_by_code_key,
    flag_order,
    get_order,
    latest_order_id_in_door,
    withdrawal_of,
)
from agent.tokens.typed_codes import CodeKeys
from hardware.doors.port import DoorSensors, SensorState
from hardware.errors import SensorError

_LOG = logging.getLogger(__name__)

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
    ref: str | None = None  # the support reference the message names, as its own field


@dataclass(frozen=True, slots=True)
class HelpOutcome:
    """The answer to "the door did not open": jammed|open|was_open|unknown|collectable."""

    result: str
    door: int
    message: str
    ref: str | None = None  # the support reference the message names, as its own field


def _message(state: str, door: int, order_id: str | None) -> str:
    ref = support_ref(order_id) if order_id else "-"
    return _MESSAGES[state].format(door=door, ref=ref)


def _ref(state: str, order_id: str | None) -> str | None:
    """The support reference of a message that asks the person to contact staff."""
    return support_ref(order_id) if order_id and "{ref}" in _MESSAGES[state] else None


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


def _reported_order(conn: sqlite3.Connection, code_key: CodeKeys) -> _Reported | None:
    order = find_order_by_code_key(conn, code_key)
    return None if order is None else _report_of(conn, order)


def _reported_order_by_id(conn: sqlite3.Connection, order_id: str) -> _Reported | None:
    order = get_order(conn, order_id)
    return None if order is None else _report_of(conn, order)


def _report_of(conn: sqlite3.Connection, order: Order) -> _Reported:
    fault = None
    if order.door is not None:
        fault = require_door(conn, order.door).fault
    openings = openings_of_order(conn, order.order_id, ("pickup", "reopen"))
    last = next((o for o in openings if o["result"] == OpeningResult.OPENED), None)
    withdrawn = withdrawal_of(conn, order)
    if last is None:
        return _Reported(order, fault, None, None, seen_open=False, withdrawn=withdrawn)
    seen = last["seen_open_at"] is not None
    opening_id, finished_at = int(last["id"]), last["finished_at"]
    return _Reported(order, fault, opening_id, finished_at, seen_open=seen, withdrawn=withdrawn)


_REPORT = Attempt(Credential.TYPED_CODE, Setting.UNATTENDED)


def _reported_or_refuse(conn: sqlite3.Connection, code_key: CodeKeys) -> _Reported:
    found = _reported_order(conn, code_key)
    if found is None or found.order.door is None:
        raise UnknownCode()
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
        typed_code_key: Callable[[str], CodeKeys],
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
        """The door's state and the words for it, for the kiosk to poll after a pickup."""
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
        return DoorStatus(
            door,
            state,
            sensor.value,
            open_s,
            _message(state, door, order_id),
            _ref(state, order_id),
        )

    async def door_did_not_open(self, code: str) -> HelpOutcome:
        """The customer's "my door did not open" report, by the code they collected with."""
        now = self._clock.now()
        try:
            key = self._typed_code_key(code)
        except AgentError:
            raise UnknownCode() from None
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

    async def parcel_damaged(self, code: str, ticket_order: str | None = None) -> DamageReport:
        """The customer's damage report, by typed code or (`ticket_order`) a camera pickup's
        kiosk help ticket; typed codes go through the attempt budget like every lookup."""
        if ticket_order is not None:
            found = await self._db.read(_reported_order_by_id, ticket_order)
            if found is None:
                raise AgentError(reason=Reason.GRACE_EXPIRED)
        else:
            try:
                key = self._typed_code_key(code)
            except AgentError:
                raise UnknownCode() from None
            found = await self._attempts.run("parcel_damaged", _reported_or_refuse, key)
        now = self._clock.now()
        return await report_damage(self._db, self._evidence, found.order, found.finished_at, now)

    async def _answer(self, found: _Reported, now: float, refusal: Reason | None) -> HelpOutcome:
        order, door = found.order, found.order.door
        assert door is not None  # noqa: S101 - checked by the callers
        if refusal is not None:
            raise AgentError(reason=refusal, ref=support_ref(order.order_id))
        if order.state is OrderState.LOADED:
            result = "jammed" if found.fault == JAMMED else "collectable"
            return HelpOutcome(
                result, door, _message(result, door, order.order_id), _ref(result, order.order_id)
            )
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
        return HelpOutcome(
            result, door, _message(result, door, order.order_id), _ref(result, order.order_id)
        )

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
