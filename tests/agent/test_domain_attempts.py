from agent.domain.attempts import AttemptLimiter, AttemptPolicy

T0 = 1_800_000_000.0


def test_five_failures_in_a_minute_make_the_next_attempt_wait() -> None:
    limiter = AttemptLimiter(AttemptPolicy(max_failures_per_window=5, window_s=60))
    for i in range(5):
        assert limiter.retry_after(T0 + i) == 0
        limiter = limiter.record_failure(T0 + i)
    assert limiter.retry_after(T0 + 5) == 55
    assert limiter.retry_after(T0 + 60) == 0


def test_sustained_guessing_locks_typed_codes_out() -> None:
    policy = AttemptPolicy(
        max_failures_per_window=5,
        window_s=60,
        lockout_after=10,
        lockout_window_s=600,
        lockout_s=900,
    )
    limiter = AttemptLimiter(policy)
    now = T0
    for _ in range(10):
        while limiter.retry_after(now) > 0:
            now += limiter.retry_after(now)
        limiter = limiter.record_failure(now)
    assert limiter.retry_after(now) == 900
    assert limiter.retry_after(now + 899) > 0
    assert limiter.retry_after(now + 900) == 0
