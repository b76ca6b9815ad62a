from agent.domain.kpis import AuditRow, KpiState

T0 = 1_800_000_000.0


def test_dwell_sla_expiries_and_returns_fold_from_audit_rows() -> None:
    state = KpiState()
    state.fold(
        [
            AuditRow(1, T0, "order.loaded", "A", None),
            AuditRow(2, T0, "order.loaded", "B", None),
            AuditRow(3, T0, "order.loaded", "C", None),
            AuditRow(4, T0 + 1800, "order.collected", "A", 3 * 86400),
            AuditRow(5, T0 + 1900, "order.collected", "A", 3 * 86400),  # after a failed door
            AuditRow(6, T0 + 4 * 86400, "order.collected", "B", 3 * 86400),  # after the hold
            AuditRow(7, T0 + 3 * 86400, "order.expired", "C", None),
            AuditRow(8, T0, "return.dropped_off", "R-1", None),
        ]
    )
    assert (state.collected, state.collected_within_hold, state.expired) == (2, 1, 1)
    assert state.returns == {"dropped_off": 1}
    assert state.dwell_sum_s == 1800 + 4 * 86400
    buckets = dict(state.cumulative_dwell())
    assert buckets[3600] == 1
    assert buckets[72 * 3600] == 1
    assert buckets[float("inf")] == 2
    assert state.last_seq == 8


def test_the_fold_is_incremental() -> None:
    state = KpiState()
    state.fold([AuditRow(1, T0, "order.loaded", "A", None)])
    state.fold([AuditRow(2, T0 + 60, "order.collected", "A", 3600)])
    assert (state.collected, state.collected_within_hold, state.last_seq) == (1, 1, 2)
