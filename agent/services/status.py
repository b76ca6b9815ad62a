"""The locker's status for `/api/v1/status` and the hub's state snapshot."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Mapping

from agent.domain.attempts import AttemptPolicy, Origin, budget_scope, refilled, retry_after
from agent.domain.clock import Clock
from agent.services.attempts import SCOPE, load_budget
from agent.store import journal, outbox
from agent.store.db import Database, schema_version_of_code
from agent.store.doors import list_doors
from agent.store.orders import count_orders_by_state
from hardware.doors.port import DoorSensors


def _store_snapshot(
    conn: sqlite3.Connection, policy: AttemptPolicy, now: float
) -> dict[str, object]:
    doors = list_doors(conn)
    budget = load_budget(conn, policy, now)  # the kiosk's own (loopback) budget
    network = load_budget(conn, policy, now, budget_scope(SCOPE, Origin.NETWORK))
    return {
        "doors": [
            {
                "door": d.number,
                "size": d.size.value,
                "low": d.low,
                "enabled": d.enabled,
                "fault": d.fault,
                "occupied": d.occupied,
            }
            for d in doors
        ],
        "orders": count_orders_by_state(conn),
        "outbox_depth": outbox.depth_and_oldest(conn)[0],
        "time_floor": float(journal.get_setting(conn, "time_floor") or 0.0),
        "typed_codes": {
            "retry_after_s": round(retry_after(budget, policy, now), 1),
            "daily_budget_left": int(refilled(budget, policy, now).daily),
            "network_retry_after_s": round(retry_after(network, policy, now), 1),
            "network_daily_budget_left": int(refilled(network, policy, now).daily),
        },
    }


class StatusService:
    """Builds the locker's status: doors, sensors, versions, budgets and the providers' sections."""

    def __init__(
        self,
        db: Database,
        sensors: DoorSensors,
        clock: Clock,
        versions: Mapping[str, object],
        extras: Mapping[str, object] | None = None,
        *,
        attempt_policy: AttemptPolicy | None = None,
    ) -> None:
        self._attempt_policy = attempt_policy or AttemptPolicy()
        self._db = db
        self._sensors = sensors
        self._clock = clock
        self._versions = dict(versions)
        self.extras: dict[str, object] = dict(extras or {})
        # name -> callable giving a JSON-able section (camera health, hub link, supervision)
        self.providers: dict[str, Callable[[], object]] = {}

    async def snapshot(self) -> Mapping[str, object]:
        """The status as `/api/v1/status` shows it, with each door's current sensor reading."""
        stored = await self._db.read(_store_snapshot, self._attempt_policy, self._clock.now())
        readings = await self._sensors.read_all()
        doors = stored["doors"]
        assert isinstance(doors, list)  # noqa: S101
        for door in doors:
            door["sensor"] = readings.get(door["door"], "unknown")
        now = self._clock.now()
        floor = stored.pop("time_floor")
        assert isinstance(floor, float)  # noqa: S101
        snapshot: dict[str, object] = {
            **stored,
            "clock": {"now": now, "time_floor": floor, "trusted": now >= floor},
            "versions": {**self._versions, "schema": schema_version_of_code()},
            **self.extras,
            **{name: provide() for name, provide in self.providers.items()},
        }
        hub = snapshot.get("hub")
        if isinstance(hub, dict):
            # The link's own figure only knows what it loaded while connected; the outbox
            # table is the truth, offline included.
            hub["outbox_depth"] = stored["outbox_depth"]
        return snapshot
