"""The locker's KPIs, folded from its append-only audit log (pure: rows in, counts out).

Derived from the audit log rather than kept in memory, they survive restarts and never go down:
dwell time (loaded to collected), collections within the promised hold (the SLA), expiries and
returns. The fold is incremental: `KpiState.fold` takes the rows after `last_seq`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

HOUR_S = 3600.0
DWELL_BUCKETS_S: tuple[float, ...] = (
    HOUR_S,
    4 * HOUR_S,
    12 * HOUR_S,
    24 * HOUR_S,
    48 * HOUR_S,
    72 * HOUR_S,
    120 * HOUR_S,
    168 * HOUR_S,
    336 * HOUR_S,
    float("inf"),
)
RETURN_ACTIONS = {
    "return.dropped_off": "dropped_off",
    "return.collected": "collected_by_courier",
    "order.returned": "returned_to_sender",
}
ACTIONS = ("order.loaded", "order.collected", "order.expired", *RETURN_ACTIONS)


@dataclass(frozen=True, slots=True)
class AuditRow:
    """The fields of one audit entry that the KPIs read."""

    seq: int
    at: float
    action: str
    order_id: str | None
    promised_hold_s: float | None  # the order's hold plus its paused time, if known


@dataclass(slots=True)
class KpiState:
    """The KPI counts so far and the loaded parcels still waiting to be collected."""

    last_seq: int = 0
    loaded_at: dict[str, float] = field(default_factory=dict)
    dwell_counts: list[int] = field(default_factory=lambda: [0] * len(DWELL_BUCKETS_S))
    dwell_sum_s: float = 0.0
    collected: int = 0
    collected_within_hold: int = 0
    expired: int = 0
    returns: dict[str, int] = field(default_factory=dict)

    def fold(self, rows: list[AuditRow]) -> None:
        """Counts the audit rows after `last_seq` into the KPIs."""
        for row in rows:
            self.last_seq = max(self.last_seq, row.seq)
            self._apply(row)

    def _apply(self, row: AuditRow) -> None:
        if row.action in RETURN_ACTIONS:
            kind = RETURN_ACTIONS[row.action]
            self.returns[kind] = self.returns.get(kind, 0) + 1
        elif row.order_id is None:
            return
        elif row.action == "order.loaded":
            self.loaded_at.setdefault(row.order_id, row.at)
        elif row.action == "order.expired":
            self.expired += 1
            self.loaded_at.pop(row.order_id, None)
        elif row.action == "order.collected":
            loaded = self.loaded_at.pop(row.order_id, None)
            if loaded is None:  # a second collect after a failed door: counted once
                return
            dwell = max(0.0, row.at - loaded)
            self.collected += 1
            self.dwell_sum_s += dwell
            bucket = next(i for i, bound in enumerate(DWELL_BUCKETS_S) if dwell <= bound)
            self.dwell_counts[bucket] += 1
            if row.promised_hold_s is not None and dwell <= row.promised_hold_s:
                self.collected_within_hold += 1

    def cumulative_dwell(self) -> tuple[tuple[float, int], ...]:
        """Dwell-time histogram as (upper bound, collections at or below it), Prometheus-style."""
        total, out = 0, []
        for bound, count in zip(DWELL_BUCKETS_S, self.dwell_counts, strict=True):
            total += count
            out.append((bound, total))
        return tuple(out)
