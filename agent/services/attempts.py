"""The one typed-code limiter of a locker: persisted, and atomic with the code lookup.

`AttemptGate.run(fn, ...)` runs `fn(conn, ...)` (the lookup of a typed code and what follows)
in ONE write transaction that first checks the attempt budget: while it is spent, `fn` never
runs (no oracle: a rate-limited attempt learns nothing about the code). A failed attempt
(`CODE_UNKNOWN`) spends the budget in the same transaction, so 200 concurrent guesses cannot
evaluate more codes than the budget allows, and the budget survives a restart. A code that
matches an order costs nothing (its transaction's outcome stands or rolls back as usual).
Pickup, return drop-off, counter hand-out and "the door did not open" all share this gate.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

from agent.domain.attempts import (
    AttemptPolicy,
    AttemptState,
    refund,
    retry_after,
    spend_failure,
)
from agent.domain.clock import Clock
from agent.errors import AgentError, RateLimited
from agent.reasons import Reason
from agent.store import attempts
from agent.store.db import Database
from agent.store.kpis import bump_counter

T = TypeVar("T")

SCOPE = "typed_code"
COUNTED = frozenset({Reason.CODE_UNKNOWN})
FAILED_COUNTER = "failed_attempts"


def load_budget(
    conn: sqlite3.Connection, policy: AttemptPolicy, now: float, scope: str = SCOPE
) -> AttemptState:
    """The budget `scope` (the typed-code one unless named) as stored."""
    return attempts.load_budget(conn, policy, now, scope)


def _save_budget(conn: sqlite3.Connection, state: AttemptState, scope: str = SCOPE) -> None:
    attempts.save_budget(conn, state, scope)


def _reserve(conn: sqlite3.Connection, policy: AttemptPolicy, now: float, scope: str) -> float:
    """Spend one attempt now (0 returned) or say how long to wait (nothing spent)."""
    state = load_budget(conn, policy, now, scope)
    wait = retry_after(state, policy, now)
    if wait > 0:
        bump_counter(conn, FAILED_COUNTER, f"{scope}:{Reason.RATE_LIMITED.value}")
        return wait
    _save_budget(conn, spend_failure(state, policy, now), scope)
    return 0.0


def _refund(conn: sqlite3.Connection, policy: AttemptPolicy, now: float, scope: str) -> None:
    _save_budget(conn, refund(load_budget(conn, policy, now, scope), policy, now), scope)


@dataclass(frozen=True, slots=True)
class _Refused:
    """A refusal to raise after the transaction committed (so the spent budget stays spent)."""

    error: AgentError


def _gated(
    conn: sqlite3.Connection,
    policy: AttemptPolicy,
    now: float,
    via: str,
    fn: Callable[..., T],
    *args: object,
) -> T | _Refused:
    state = load_budget(conn, policy, now)
    wait = retry_after(state, policy, now)
    if wait > 0:
        bump_counter(conn, FAILED_COUNTER, f"{via}:{Reason.RATE_LIMITED.value}")
        return _Refused(RateLimited(wait))
    attempts.begin_attempt(conn)
    try:
        value = fn(conn, *args)
    except AgentError as err:
        attempts.undo_attempt(conn)
        if err.reason not in COUNTED:
            raise
        _save_budget(conn, spend_failure(state, policy, now))
        bump_counter(conn, FAILED_COUNTER, f"{via}:{err.reason.value}")
        return _Refused(err)
    attempts.keep_attempt(conn)
    return value


class AttemptGate:
    """Injected into every service that looks a typed code up (one per locker)."""

    def __init__(self, db: Database, clock: Clock, policy: AttemptPolicy) -> None:
        self._db = db
        self._clock = clock
        self.policy = policy

    async def run(self, via: str, fn: Callable[..., T], *args: object) -> T:
        """`fn(conn, *args)` behind the budget, in one write transaction.

        Raises `RateLimited` (with the honest wait) without running `fn` while the budget is
        spent; re-raises a `CODE_UNKNOWN` from `fn` after spending the budget (committed)."""
        outcome: T | _Refused = await self._db.run(
            _gated, self.policy, self._clock.now(), via, fn, *args
        )
        if isinstance(outcome, _Refused):
            raise outcome.error
        return outcome

    async def reserve(self, scope: str) -> None:
        """For a secret checked outside the database (a staff PIN, slow scrypt): spend one
        attempt of budget `scope` before checking, atomically, or raise `RateLimited`. Call
        `refund(scope)` when the secret was right, `failed(scope, reason)` when it was not."""
        wait = await self._db.run(_reserve, self.policy, self._clock.now(), scope)
        if wait > 0:
            raise RateLimited(wait)

    async def refund(self, scope: str) -> None:
        """Gives back the attempt reserved for `scope`: the secret was right."""
        await self._db.run(_refund, self.policy, self._clock.now(), scope)

    async def failed(self, scope: str, reason: Reason) -> None:
        """Counts a failed attempt of `scope` by reason (the reserved attempt stays spent)."""
        await self._db.run(bump_counter, FAILED_COUNTER, f"{scope}:{reason.value}")

    async def retry_after(self) -> float:
        """Seconds until a typed code may be tried (for status and the kiosk)."""
        now = self._clock.now()
        state = await self._db.read(load_budget, self.policy, now)
        return retry_after(state, self.policy, now)
