"""Rate limiting of typed-code attempts (a short code can be guessed; a signed token cannot).

Pure: the limiter is a value that the service replaces on every attempt. Only failures count:
a customer who types their code right is never slowed down by someone else's guesses unless
the locker is under a sustained guessing attack, when every typed code waits (tokens do not).
"""

from __future__ import annotations

from dataclasses import dataclass, replace


@dataclass(frozen=True, slots=True)
class AttemptPolicy:
    max_failures_per_window: int = 5
    window_s: float = 60.0
    lockout_after: int = 20  # failures within lockout_window_s lock typed codes out
    lockout_window_s: float = 600.0
    lockout_s: float = 900.0


@dataclass(frozen=True, slots=True)
class AttemptLimiter:
    policy: AttemptPolicy = AttemptPolicy()
    failures: tuple[float, ...] = ()
    locked_until: float = 0.0

    def retry_after(self, now: float) -> float:
        """Seconds until another typed code may be tried (0 when allowed now)."""
        if now < self.locked_until:
            return self.locked_until - now
        recent = [t for t in self.failures if now - t < self.policy.window_s]
        if len(recent) >= self.policy.max_failures_per_window:
            return self.policy.window_s - (now - min(recent))
        return 0.0

    def record_failure(self, now: float) -> AttemptLimiter:
        horizon = max(self.policy.window_s, self.policy.lockout_window_s)
        failures = (*(t for t in self.failures if now - t < horizon), now)
        in_lockout_window = [t for t in failures if now - t < self.policy.lockout_window_s]
        locked_until = self.locked_until
        if len(in_lockout_window) >= self.policy.lockout_after:
            locked_until = now + self.policy.lockout_s
            failures = ()
        return replace(self, failures=failures, locked_until=locked_until)
