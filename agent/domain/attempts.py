"""The typed-code attempt budget (a short code can be guessed; a signed token cannot).

Pure: time is passed in, the state is a value the caller stores. Two token buckets, both
spent by every failed typed code (pickup, return, counter hand-out, "door did not open"):

- a **burst** bucket (`burst` failures back to back, one more every `refill_s`): a person's
  typos cost the next person at most `refill_s` of waiting (12 s by default; never over 60 s);
- a **daily** bucket (`daily_budget` failures, refilled evenly over 24 h): the bound on
  guessing. At the worst allowed rate an attacker gets `daily_budget` guesses a day, i.e.
  `guesses_per_year()` per budget.

Each `Origin` has budgets of its own (`budget_scope`): requests from the kiosk itself (the
kiosk's browser reaches the agent over loopback) and requests from the network. Guessing from
the network spends only the network's budget, so it can never lock the kiosk's customers out.
Both budgets together allow `2 * guesses_per_year()` guesses a year; with 40-bit codes and N
live codes at the locker the chance that any guess in a year opens a door is at most
`2 * guesses_per_year() * N / 2**40` (default 100/day per budget, N = 24: 1.6e-6 a year;
someone who only reaches the network gets half of that).

The trade-off, stated: a guesser at the kiosk and a customer share one budget, and the limiter
cannot tell them apart without evaluating the code (which would be the oracle it exists to
deny). A correct code costs nothing, but while the buckets are empty it waits like any other
code. A passer-by's typos block typed codes for seconds; only a sustained attack at the kiosk
itself (its daily budget spent) makes typed codes there wait longer, one attempt per
`86400 / daily_budget` s (14.4 min by default), and signed QR codes keep working throughout.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from enum import StrEnum

DAY_S = 86_400.0
MAX_REFILL_S = 60.0


class Origin(StrEnum):
    """Where an attempt comes from; each origin spends budgets of its own."""

    KIOSK = "kiosk"  # the locker's own screen: the TCP peer is a loopback address
    NETWORK = "network"  # anything else (or unknown)


def origin_of_peer(peer: str | None) -> Origin:
    """The origin of a request whose TCP connection comes from `peer` (an IP address as the
    socket reports it, None if unknown). Only a loopback peer is the kiosk; an unknown or
    unparsable peer is the network, so a doubt never grants the kiosk's budget."""
    if not peer:
        return Origin.NETWORK
    try:
        address = ipaddress.ip_address(peer.split("%", 1)[0])
    except ValueError:
        return Origin.NETWORK
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return Origin.KIOSK if address.is_loopback else Origin.NETWORK


def budget_scope(scope: str, origin: Origin) -> str:
    """The stored budget `scope` for `origin`: the kiosk keeps the plain name (the budget
    kept before origins were told apart), the network gets `scope:network`."""
    return scope if origin is Origin.KIOSK else f"{scope}:{origin.value}"


@dataclass(frozen=True, slots=True)
class AttemptPolicy:
    """How many wrong typed codes are allowed: back to back, and per day."""

    burst: int = 5
    refill_s: float = 12.0  # one more failure allowed every refill_s (5 a minute)
    daily_budget: int = 100

    def __post_init__(self) -> None:
        if self.burst < 1 or self.daily_budget < 1:
            raise ValueError("burst and daily_budget must be at least 1")
        if not 0 < self.refill_s <= MAX_REFILL_S:
            raise ValueError(f"refill_s must be in (0, {MAX_REFILL_S:g}]")

    @property
    def daily_refill_s(self) -> float:
        """Seconds for the daily bucket to regain one attempt."""
        return DAY_S / self.daily_budget

    def guesses_per_year(self) -> int:
        """Failed attempts one year allows one budget at most (a full daily bucket plus 365
        refills); every `Origin` has its own budget."""
        return self.daily_budget * 366


@dataclass(frozen=True, slots=True)
class AttemptState:
    """The two buckets as of `updated_at`; the caller stores it."""

    burst: float
    daily: float
    updated_at: float

    @classmethod
    def full(cls, policy: AttemptPolicy, now: float) -> AttemptState:
        """Both buckets full at `now` (nobody has failed yet)."""
        return cls(float(policy.burst), float(policy.daily_budget), now)


def refilled(state: AttemptState, policy: AttemptPolicy, now: float) -> AttemptState:
    """The buckets at `now`. A clock that went backwards refills nothing and locks nothing."""
    elapsed = max(0.0, now - state.updated_at)
    return AttemptState(
        burst=min(float(policy.burst), state.burst + elapsed / policy.refill_s),
        daily=min(float(policy.daily_budget), state.daily + elapsed / policy.daily_refill_s),
        updated_at=now,
    )


def retry_after(state: AttemptState, policy: AttemptPolicy, now: float) -> float:
    """Seconds until a typed code may be tried (0: now). Honest: what `Retry-After` says."""
    current = refilled(state, policy, now)
    wait_burst = max(0.0, 1.0 - current.burst) * policy.refill_s
    wait_daily = max(0.0, 1.0 - current.daily) * policy.daily_refill_s
    return max(wait_burst, wait_daily)


def spend_failure(state: AttemptState, policy: AttemptPolicy, now: float) -> AttemptState:
    """The buckets after one failed attempt at `now` (the caller checked `retry_after` first)."""
    current = refilled(state, policy, now)
    return AttemptState(
        burst=max(0.0, current.burst - 1.0),
        daily=max(0.0, current.daily - 1.0),
        updated_at=now,
    )


def refund(state: AttemptState, policy: AttemptPolicy, now: float) -> AttemptState:
    """The buckets after giving back one reserved attempt that turned out right."""
    current = refilled(state, policy, now)
    return AttemptState(
        burst=min(float(policy.burst), current.burst + 1.0),
        daily=min(float(policy.daily_budget), current.daily + 1.0),
        updated_at=now,
    )


@dataclass(frozen=True, slots=True)
class AttemptLimiter:
    """An in-memory holder of one state (staff PIN sign-in, which has no database)."""

    policy: AttemptPolicy = AttemptPolicy()
    state: AttemptState | None = None

    def retry_after(self, now: float) -> float:
        """Seconds until the next attempt is allowed (0: now)."""
        if self.state is None:
            return 0.0
        return retry_after(self.state, self.policy, now)

    def record_failure(self, now: float) -> AttemptLimiter:
        """The limiter after one failed attempt at `now`."""
        state = self.state or AttemptState.full(self.policy, now)
        return AttemptLimiter(self.policy, spend_failure(state, self.policy, now))
