"""Fleet status and KPIs from the hub's database: for `/metrics` and `locker-admin fleet status`.

Per locker: online, offline for, events stored, outbox depth and occupancy (from its state),
installed trust bundle and its age, open alarms, unanswered commands and the oldest one's age.
Per fleet: the same summed, orders by state, events by kind (collected, returned, expired, ...),
dwell time (announce → collected) and SLA adherence (collected within the promised hold).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from typing import Any

from hub_sync.hub.db import Conn


@dataclass
class LockerStatus:
    locker: str
    online: bool
    offline_s: float | None
    through_seq: int
    outbox_depth: int | None
    doors: int | None
    occupied: int | None
    trust_version: int | None
    trust_age_s: float | None
    alarms: list[str]
    pending_commands: int
    oldest_command_s: float | None


@dataclass
class FleetStatus:
    fleet: str
    lockers: list[LockerStatus]
    orders: dict[str, int] = field(default_factory=dict)
    events: dict[str, int] = field(default_factory=dict)
    alarms: dict[str, int] = field(default_factory=dict)
    dwell_p50_s: float | None = None
    sla_collected_in_time: int = 0
    sla_collected_late: int = 0

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _state_numbers(state: str | None) -> tuple[int | None, int | None, int | None]:
    if not state:
        return None, None, None
    obj = json.loads(state)
    depth = obj.get("outbox_depth")
    doors = obj.get("doors")
    if not isinstance(doors, list):
        return depth if isinstance(depth, int) else None, None, None
    occupied = sum(1 for d in doors if isinstance(d, dict) and d.get("occupied"))
    return depth if isinstance(depth, int) else None, len(doors), occupied


async def fleet_status(conn: Conn, fleet: str, now: float) -> FleetStatus:
    devices = await conn.fetch(
        "SELECT device, online, offline_since, through_seq, state::text AS state, trust_version,"
        " trust_issued_at FROM devices WHERE fleet = $1 ORDER BY device",
        fleet,
    )
    alarms = await conn.fetch(
        "SELECT device, kind FROM alarms WHERE fleet = $1 AND cleared_at IS NULL", fleet
    )
    pending = await conn.fetch(
        "SELECT device, count(*) AS n, min(created_at) AS oldest FROM commands"
        " WHERE fleet = $1 AND status = 'pending' GROUP BY device",
        fleet,
    )
    by_device: dict[str, list[str]] = {}
    for a in alarms:
        by_device.setdefault(a["device"], []).append(a["kind"])
    waiting = {p["device"]: (int(p["n"]), float(p["oldest"])) for p in pending}
    lockers = []
    for d in devices:
        depth, doors, occupied = _state_numbers(d["state"])
        n, oldest = waiting.get(d["device"], (0, None))
        lockers.append(
            LockerStatus(
                locker=d["device"], online=bool(d["online"]),
                offline_s=None if d["offline_since"] is None else now - d["offline_since"],
                through_seq=int(d["through_seq"]), outbox_depth=depth, doors=doors,
                occupied=occupied, trust_version=d["trust_version"],
                trust_age_s=None if d["trust_issued_at"] is None else now - d["trust_issued_at"],
                alarms=sorted(by_device.get(d["device"], [])), pending_commands=n,
                oldest_command_s=None if oldest is None else now - oldest,
            )
        )  # fmt: skip
    status = FleetStatus(fleet, lockers)
    for a in alarms:
        status.alarms[a["kind"]] = status.alarms.get(a["kind"], 0) + 1
    for r in await conn.fetch(
        "SELECT state, count(*) AS n FROM orders WHERE fleet = $1 GROUP BY state", fleet
    ):
        status.orders[r["state"]] = int(r["n"])
    for r in await conn.fetch(
        "SELECT kind, count(*) AS n FROM events WHERE fleet = $1 GROUP BY kind", fleet
    ):
        status.events[r["kind"]] = int(r["n"])
    await _dwell(conn, fleet, status)
    return status


async def _dwell(conn: Conn, fleet: str, status: FleetStatus) -> None:
    """Dwell = collected event time - order announce time; in time = within its hold."""
    rows = await conn.fetch(
        "SELECT e.created_at - o.created_at AS dwell, o.hold_s FROM orders o JOIN events e"
        " ON e.fleet = o.fleet AND e.device = o.device AND e.kind = 'order.collected'"
        " AND (e.body->>'order_id' = o.order_id OR e.body->>'order' = o.order_id)"
        " WHERE o.fleet = $1",
        fleet,
    )
    dwells = sorted(float(r["dwell"]) for r in rows)
    if dwells:
        status.dwell_p50_s = dwells[len(dwells) // 2]
    status.sla_collected_in_time = sum(1 for r in rows if r["dwell"] <= r["hold_s"])
    status.sla_collected_late = len(rows) - status.sla_collected_in_time
