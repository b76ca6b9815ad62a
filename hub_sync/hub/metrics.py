"""The fleet status as Prometheus text (prometheus-client), for the hub API's `GET /metrics`.

The same numbers as `locker-admin fleet status` (hub_sync/hub/status.py); per locker with the
labels `fleet` and `locker`, per fleet with `fleet`.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Gauge, generate_latest

from hub_sync.hub.status import FleetStatus, LockerKpis, LockerStatus

_LK = ["fleet", "locker"]


class _Gauges:
    def __init__(self, reg: CollectorRegistry) -> None:
        self.reg = reg
        self._made: dict[str, Gauge] = {}

    def set(self, name: str, doc: str, labels: dict[str, str], value: float | None) -> None:
        if value is None:
            return
        gauge = self._made.get(name)
        if gauge is None:
            gauge = self._made[name] = Gauge(name, doc, list(labels), registry=self.reg)
        gauge.labels(**labels).set(value)


def _locker(g: _Gauges, fleet: str, lk: LockerStatus) -> None:
    key = {"fleet": fleet, "locker": lk.locker}
    g.set("lkhub_locker_online", "1 when the locker's status is online", key, int(lk.online))
    g.set("lkhub_locker_offline_seconds", "time since the locker went offline", key,
          lk.offline_s or 0)  # fmt: skip
    g.set("lkhub_locker_outbox_depth", "events waiting in the locker's outbox", key,
          lk.outbox_depth)  # fmt: skip
    g.set("lkhub_locker_outbox_age_seconds", "age of its oldest unconfirmed event (its state)",
          key, lk.outbox_age_s)  # fmt: skip
    g.set("lkhub_locker_doors", "doors (from its state)", key, lk.doors)
    g.set("lkhub_locker_doors_occupied", "occupied doors (from its state)", key, lk.occupied)
    g.set("lkhub_locker_duplicates", "seqs it sent again that the hub had (redeliveries)", key,
          lk.duplicates)  # fmt: skip
    g.set("lkhub_locker_trust_age_seconds", "age of its installed bundle", key, lk.trust_age_s)
    g.set("lkhub_locker_commands_pending", "commands not answered yet", key, lk.pending_commands)
    g.set("lkhub_locker_command_oldest_seconds", "oldest unanswered command", key,
          lk.oldest_command_s or 0)  # fmt: skip
    g.set("lkhub_locker_dwell_p50_seconds", "median order-to-collect of hub orders", key,
          lk.dwell_p50_s)  # fmt: skip
    for sla, n in (("in_time", lk.sla_in_time), ("late", lk.sla_late)):
        g.set("lkhub_locker_orders_collected", "hub orders collected by SLA",
              {**key, "sla": sla}, n)  # fmt: skip
    if lk.kpis is not None:
        _kpis(g, key, lk.kpis, "lkhub_locker_")


def _kpis(g: _Gauges, key: dict[str, str], k: LockerKpis, prefix: str) -> None:
    """The lockers' own cumulative counts (their `kpi.snapshot`)."""
    g.set(f"{prefix}collected", "collected (the locker's count)", key, k.collected)
    g.set(f"{prefix}collected_within_hold", "collected within the promised hold (SLA)", key,
          k.collected_within_hold)  # fmt: skip
    g.set(f"{prefix}expired", "orders whose hold ran out", key, k.expired)
    g.set(f"{prefix}dwell_mean_seconds", "mean loaded-to-collected", key, k.dwell_mean_s)
    for kind, n in k.returns.items():
        g.set(f"{prefix}returns", "returns by step", {**key, "step": kind}, n)
    for label, n in k.failed_attempts.items():
        path, _, reason = label.partition(":")
        g.set(f"{prefix}failed_attempts", "failed typed-code and staff PIN attempts",
              {**key, "path": path, "reason": reason}, n)  # fmt: skip


def render(s: FleetStatus) -> bytes:
    reg = CollectorRegistry()
    g = _Gauges(reg)
    for lk in s.lockers:
        _locker(g, s.fleet, lk)
    fl = {"fleet": s.fleet}
    for kind, n in s.alarms.items():
        g.set("lkhub_alarms_open", "open alarms by kind", {**fl, "kind": kind}, n)
    for state, n in s.orders.items():
        g.set("lkhub_orders", "orders by state", {**fl, "state": state}, n)
    for kind, n in s.events.items():
        g.set("lkhub_events_stored", "events stored by kind", {**fl, "kind": kind}, n)
    for sla, v in (("in_time", s.sla_collected_in_time), ("late", s.sla_collected_late)):
        g.set("lkhub_orders_collected", "hub orders collected by SLA", {**fl, "sla": sla}, v)
    g.set("lkhub_dwell_p50_seconds", "median order-to-collect of hub orders", fl, s.dwell_p50_s)
    g.set("lkhub_lockers_offline", "lockers whose status is offline", fl, s.offline_lockers)
    g.set("lkhub_offline_seconds_sum", "offline time of the offline lockers, summed", fl,
          s.offline_s_sum)  # fmt: skip
    g.set("lkhub_outbox_age_max_seconds", "oldest unconfirmed event of any locker", fl,
          s.outbox_age_max_s)  # fmt: skip
    _kpis(g, fl, s.kpis, "lkhub_fleet_")
    return generate_latest(reg)
