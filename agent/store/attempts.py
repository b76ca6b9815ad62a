"""The attempt-budget repository: the persisted typed-code (and staff PIN) budgets, and the
savepoint that lets a failed attempt be undone while the budget it spent stays spent.

Sync functions on a `sqlite3.Connection`, called inside `Database.run` / `Database.read`.
"""

from __future__ import annotations

import sqlite3

from agent.domain.attempts import AttemptPolicy, AttemptState

_SAVEPOINT = "typed_code_attempt"


def load_budget(
    conn: sqlite3.Connection, policy: AttemptPolicy, now: float, scope: str
) -> AttemptState:
    """The budget `scope` as stored, or a full one if it was never spent."""
    row = conn.execute(
        "SELECT burst, daily, updated_at FROM attempt_budget WHERE scope = ?", (scope,)
    ).fetchone()
    if row is None:
        return AttemptState.full(policy, now)
    return AttemptState(float(row[0]), float(row[1]), float(row[2]))


def save_budget(conn: sqlite3.Connection, state: AttemptState, scope: str) -> None:
    """Write the budget `scope` back."""
    conn.execute(
        "INSERT INTO attempt_budget (scope, burst, daily, updated_at) VALUES (?, ?, ?, ?)"
        " ON CONFLICT (scope) DO UPDATE SET burst = excluded.burst, daily = excluded.daily,"
        " updated_at = excluded.updated_at",
        (scope, state.burst, state.daily, state.updated_at),
    )


def begin_attempt(conn: sqlite3.Connection) -> None:
    """Mark where an attempt's own writes start (a savepoint in the caller's transaction)."""
    conn.execute(f"SAVEPOINT {_SAVEPOINT}")


def undo_attempt(conn: sqlite3.Connection) -> None:
    """Undo the attempt's own writes since `begin_attempt` (the transaction goes on)."""
    conn.execute(f"ROLLBACK TO {_SAVEPOINT}")
    conn.execute(f"RELEASE {_SAVEPOINT}")


def keep_attempt(conn: sqlite3.Connection) -> None:
    """Keep the attempt's writes (they commit or roll back with the transaction)."""
    conn.execute(f"RELEASE {_SAVEPOINT}")
