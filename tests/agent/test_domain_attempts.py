import pytest

from agent.domain.attempts import (
    AttemptLimiter,
    AttemptPolicy,
    AttemptState,
    refilled,
    retry_after,
    spend_failure,
)

T0 = 1_800_000_000.0
POLICY = AttemptPolicy(burst=5, refill_s=12, daily_budget=100)


def _spend(state: AttemptState, now: float, times: int) -> AttemptState:
    for _ in range(times):
        assert retry_after(state, POLICY, now) == 0
        state = spend_failure(state, POLICY, now)
    return state


def test_a_burst_of_typos_costs_the_next_person_one_refill_at_most() -> None:
    state = _spend(AttemptState.full(POLICY, T0), T0, 5)
    assert retry_after(state, POLICY, T0) == pytest.approx(12)
    assert retry_after(state, POLICY, T0 + 12) == 0


def test_however_many_typos_the_wait_never_exceeds_a_minute_below_the_daily_budget() -> None:
    state, now = AttemptState.full(POLICY, T0), T0
    for _ in range(60):  # a person hammering wrong codes as fast as allowed
        now += retry_after(state, POLICY, now)
        state = spend_failure(state, POLICY, now)
        assert retry_after(state, POLICY, now) <= 60


def test_the_daily_budget_bounds_guessing_per_day_and_per_year() -> None:
    state, now, failures = AttemptState.full(POLICY, T0), T0, 0
    while now < T0 + 86_400:
        now += retry_after(state, POLICY, now)
        state = spend_failure(state, POLICY, now)
        failures += 1
    # the full bucket, plus one refill per 864 s over the day
    assert failures <= 2 * POLICY.daily_budget + 1
    assert retry_after(state, POLICY, now) == pytest.approx(864, abs=1)
    assert POLICY.guesses_per_year() == 36_600
    assert POLICY.guesses_per_year() * 24 / 2**40 < 1e-6


def test_a_clock_that_goes_back_neither_refills_nor_locks() -> None:
    state = _spend(AttemptState.full(POLICY, T0), T0, 5)
    assert retry_after(state, POLICY, T0 - 86_400) == pytest.approx(12)
    assert refilled(state, POLICY, T0 - 5).burst == 0


def test_refill_is_capped_at_a_minute() -> None:
    with pytest.raises(ValueError):
        AttemptPolicy(refill_s=61)


def test_the_in_memory_limiter_holds_one_state() -> None:
    limiter = AttemptLimiter(AttemptPolicy(burst=2, refill_s=30, daily_budget=10))
    assert limiter.retry_after(T0) == 0
    limiter = limiter.record_failure(T0).record_failure(T0)
    assert limiter.retry_after(T0) == pytest.approx(30)
