"""Fleet status and KPIs from the hub's database: for `/metrics` and `locker-admin fleet status`.

Per locker: online, offline for, events stored, outbox depth and the age of its oldest unconfirmed
event, occupancy (all from its retained state), installed trust bundle and its age, open alarms,
unanswered commands and the oldest one's age; from the locker's latest `kpi.snapshot` (cumulative
since its database was created, so it covers every order it handled): collected, collected within
the hold (SLA), expiries, mean dwell, returns and failed attempts by path and reason; from the
hub's own orders (created through its API): dwell p50 and SLA. Per fleet: the same summed.
Also per locker: last seen (its last status or state message) and agent version.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

from hub_sync.hub.db import Conn


@dataclass
class LockerKpis:
    """A locker's own cumulative counts (its `kpi.snapshot`, docs/protocol.md)."""

    collected: int = 0
    collected_within_hold: int = 0
    expired: int = 0
    dwell_seconds_sum: float = 0.0
    returns: dict[str, int] = field(default_factory=dict)
    failed_attempts: dict[str, int] = field(default_factory=dict)

    @property
    def dwell_mean_s(self) -> float | None:
        return self.dwell_seconds_sum / self.collected if self.collected else None


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
    outbox_age_s: float | None = None
    kpis: LockerKpis | None = None
    kpi_age_s: float | None = None
    dwell_p50_s: float | None = None
    sla_in_time: int = 0
    sla_late: int = 0
    duplicates: int = 0
    last_seen_s: float | None = None  # seconds since its last status or state message
    agent_version: str | None = None


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
    #: the lockers' own counts summed (LockerKpis of every locker that sent one)
    kpis: LockerKpis = field(default_factory=LockerKpis)
    offline_lockers: int = 0
    offline_s_sum: float = 0.0
    outbox_age_max_s: float | None = None

    def as_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["kpis"]["dwell_mean_s"] = self.kpis.dwell_mean_s
        for lk, raw in zip(self.lockers, out["lockers"], strict=True):
            if lk.kpis is not None:
                raw["kpis"]["dwell_mean_s"] = lk.kpis.dwell_mean_s
        return out


def _agent_version(state: str | None) -> str | None:
    obj = json.loads(state) if state else {}
    snap = obj.get("state") if isinstance(obj.get("state"), dict) else obj
    versions = snap.get("versions") if isinstance(snap, dict) else None
    agent = versions.get("agent") if isinstance(versions, dict) else None
    return agent if isinstance(agent, str) else None


def _ago(now: float, *times: float | None) -> float | None:
    seen = [t for t in times if t is not None]
    return now - max(seen) if seen else None


def _int(value: object) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _state_numbers(state: str | None, now: float) -> tuple[int | None, ...]:
    """(outbox depth, doors, occupied doors, outbox age s) from a retained state message."""
    if not state:
        return None, None, None, None
    obj = json.loads(state)
    outbox = obj.get("outbox") if isinstance(obj.get("outbox"), dict) else {}
    snap = obj.get("state") if isinstance(obj.get("state"), dict) else {}
    depth = _int(outbox.get("depth"))
    oldest = outbox.get("oldest_created_at")
    age = None
    if isinstance(oldest, int | float) and not isinstance(oldest, bool):
        age = max(0, int(now - oldest))
    doors = snap.get("doors")
    if not isinstance(doors, list):
        return depth, None, None, age
    occupied = sum(1 for d in doors if isinstance(d, dict) and d.get("occupied"))
    return depth, len(doors), occupied, age


def _kpis(raw: str | None) -> LockerKpis | None:
    if not raw:
        return None
    obj = json.loads(raw)

    def counts(value: object) -> dict[str, int]:
        if not isinstance(value, Mapping):
            return {}
        return {str(k): v for k, v in value.items() if _int(v) is not None}

    dwell = obj.get("dwell_seconds_sum")
    return LockerKpis(
        collected=_int(obj.get("collected")) or 0,
        collected_within_hold=_int(obj.get("collected_within_hold")) or 0,
        expired=_int(obj.get("expired")) or 0,
        dwell_seconds_sum=float(dwell) if isinstance(dwell, int | float) else 0.0,
        returns=counts(obj.get("returns")),
        failed_attempts=counts(obj.get("failed_attempts")),
    )


def _sum_kpis(kpis: list[LockerKpis]) -> LockerKpis:
    returns: Counter[str] = Counter()
    failed: Counter[str] = Counter()
    for k in kpis:
        returns.update(k.returns)
        failed.update(k.failed_attempts)
    return LockerKpis(
        collected=sum(k.collected for k in kpis),
        collected_within_hold=sum(k.collected_within_hold for k in kpis),
        expired=sum(k.expired for k in kpis),
        dwell_seconds_sum=sum(k.dwell_seconds_sum for k in kpis),
        returns=dict(sorted(returns.items())),
        failed_attempts=dict(sorted(failed.items())),
    )


async def fleet_status(conn: Conn, fleet: str, now: float) -> FleetStatus:
    devices = await conn.fetch(
        "SELECT device, online, offline_since, through_seq, state::text AS state, trust_version,"
        " trust_issued_at, kpi::text AS kpi, kpi_at, duplicates, status_at, state_at"
        " FROM devices WHERE fleet = $1 ORDER BY device",
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
        depth, doors, occupied, outbox_age = _state_numbers(d["state"], now)
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
                outbox_age_s=outbox_age, kpis=_kpis(d["kpi"]),
                kpi_age_s=None if d["kpi_at"] is None else now - d["kpi_at"],
                duplicates=int(d["duplicates"]),
                last_seen_s=_ago(now, d["status_at"], d["state_at"]),
                agent_version=_agent_version(d["state"]),
            )
        )  # fmt: skip
    status = FleetStatus(fleet, lockers)
    status.kpis = _sum_kpis([lk.kpis for lk in lockers if lk.kpis is not None])
    offline = [lk.offline_s for lk in lockers if not lk.online and lk.offline_s is not None]
    status.offline_lockers = len(offline)  # a locker that never sent a status is not counted
    status.offline_s_sum = sum(offline)
    ages = [lk.outbox_age_s for lk in lockers if lk.outbox_age_s is not None]
    status.outbox_age_max_s = max(ages) if ages else None
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
    """Hub orders: dwell = collected event time - order time; in time = within its hold.

    Per locker and per fleet (the p50 of the collected orders)."""
    rows = await conn.fetch(
        "SELECT o.device, e.created_at - o.created_at AS dwell, o.hold_s FROM orders o"
        " JOIN events e ON e.fleet = o.fleet AND e.device = o.device"
        " AND e.kind = 'order.collected'"
        " AND (e.body->>'order_id' = o.order_id OR e.body->>'order' = o.order_id)"
        " WHERE o.fleet = $1",
        fleet,
    )
    per: dict[str, list[tuple[float, bool]]] = {}
    for r in rows:
        per.setdefault(r["device"], []).append((float(r["dwell"]), r["dwell"] <= r["hold_s"]))
    for lk in status.lockers:
        mine = per.get(lk.locker, [])
        lk.dwell_p50_s = _p50([d for d, _ in mine])
        lk.sla_in_time = sum(1 for _, ok in mine if ok)
        lk.sla_late = len(mine) - lk.sla_in_time
    status.dwell_p50_s = _p50([float(r["dwell"]) for r in rows])
    status.sla_collected_in_time = sum(lk.sla_in_time for lk in status.lockers)
    status.sla_collected_late = sum(lk.sla_late for lk in status.lockers)


def _p50(values: list[float]) -> float | None:
    return sorted(values)[len(values) // 2] if values else None
