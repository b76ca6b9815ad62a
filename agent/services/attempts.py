"""The one typed-code limiter of a locker: persisted, and atomic with the code lookup.

`AttemptGate.run(fn, ...)` runs `fn(conn, ...)` (the lookup of a typed code and what follows)
in ONE write transaction that first checks the attempt budget: while it is spent, `fn` never
runs (no oracle: a rate-limited attempt learns nothing about the code). A failed attempt
(`CODE_UNKNOWN`) spends the budget in the same transaction, so 200 concurrent guesses cannot
evaluate more codes than the budget allows, and the budget survives a restart. A code that
matches an order costs nothing (its transaction's outcome stands or rolls back as usual).
Pickup, return drop-off, counter hand-out and "the door did not open" all share this gate.

Requests from the kiosk itself and from the network spend separate budgets (`Origin`): the
HTTP layer sets `REQUEST_ORIGIN` from the TCP peer of each request (never from a header), and
outside a request the origin is the network, so a doubt never spends the kiosk's budget.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from contextvars import ContextVar
from dataclasses import dataclass
from typing import TypeVar

from agent.domain.attempts import (
    AttemptPolicy,
    AttemptState,
    Origin,
    budget_scope,
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

#: Where the request being served comes from; set per request by the HTTP layer.
REQUEST_ORIGIN: ContextVar[Origin] = ContextVar("request_origin", default=Origin.NETWORK)


def scope_of_request(scope: str) -> str:
    """The stored budget `scope` for the origin of the request being served."""
    return budget_scope(scope, REQUEST_ORIGIN.get())


def load_budget(
    conn: sqlite3.Connection, policy: AttemptPolicy, now: float, scope: str = SCOPE
) -> AttemptState:
    """The budget `scope` (the typed-code one unless named) as stored."""
    return attempts.load_budget(conn, policy, now, scope)


def _save_budget(conn: sqlite3.Connection, state: AttemptState, scope: str = SCOPE) -> None:
    attempts.save_budget(conn, state, scope)


def _reserve(
    conn: sqlite3.Connection, policy: AttemptPolicy, now: float, scope: str, via: str
) -> float:
    """Spend one attempt of budget `scope` now (0 returned) or say how long to wait (nothing
    spent; counted as a rate-limited attempt of `via`)."""
    state = load_budget(conn, policy, now, scope)
    wait = retry_after(state, policy, now)
    if wait > 0:
        bump_counter(conn, FAILED_COUNTER, f"{via}:{Reason.RATE_LIMITED.value}")
        return wait
    _save_budget(conn, spend_failure(state, policy, now), scope)
    return 0.0


def _refund(conn: sqlite3.Connection, policy: AttemptPolicy, now: float, scope: str) -> None:
    _save_budget(conn, refund(load_budget(conn, policy, now, scope), policy, now), scope)


@dataclass(frozen=True, slots=True)
class _Refused:
    """A refusal to raise after the transaction committed (so the spent budget stays spent)."""

    error: AgentError


@dataclass(frozen=True, slots=True)
class _Attempt:
    """One typed-code attempt: the budget it may spend (policy, stored scope), when, and by
    which path (for the counters)."""

    policy: AttemptPolicy
    scope: str
    now: float
    via: str


def _gated(
    conn: sqlite3.Connection, attempt: _Attempt, fn: Callable[..., T], *args: object
) -> T | _Refused:
    policy, scope, now, via = attempt.policy, attempt.scope, attempt.now, attempt.via
    state = load_budget(conn, policy, now, scope)
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
        _save_budget(conn, spend_failure(state, policy, now), scope)
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
        spent; re-raises a `CODE_UNKNOWN` from `fn` after spending the budget (committed).
        The budget is the one of the request's origin (`REQUEST_ORIGIN`)."""
        attempt = _Attempt(self.policy, scope_of_request(SCOPE), self._clock.now(), via)
        outcome: T | _Refused = await self._db.run(_gated, attempt, fn, *args)
        if isinstance(outcome, _Refused):
            raise outcome.error
        return outcome

    async def reserve(self, scope: str) -> None:
        """For a secret checked outside the database (a staff PIN, slow scrypt): spend one
        attempt of budget `scope` before checking, atomically, or raise `RateLimited`. Call
        `refund(scope)` when the secret was right, `failed(scope, reason)` when it was not."""
        scoped = scope_of_request(scope)
        wait = await self._db.run(_reserve, self.policy, self._clock.now(), scoped, scope)
        if wait > 0:
            raise RateLimited(wait)

    async def refund(self, scope: str) -> None:
        """Gives back the attempt reserved for `scope`: the secret was right."""
        await self._db.run(_refund, self.policy, self._clock.now(), scope_of_request(scope))

    async def failed(self, scope: str, reason: Reason) -> None:
        """Counts a failed attempt of `scope` by reason (the reserved attempt stays spent)."""
        await self._db.run(bump_counter, FAILED_COUNTER, f"{scope}:{reason.value}")

    async def retry_after(self, origin: Origin = Origin.KIOSK) -> float:
        """Seconds until a typed code from `origin` may be tried (for status and the kiosk)."""
        now = self._clock.now()
        state = await self._db.read(load_budget, self.policy, now, budget_scope(SCOPE, origin))
        return retry_after(state, self.policy, now)
