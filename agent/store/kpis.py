"""The KPI repository: audit rows the KPI fold reads, and the persisted `kpi_counters`.

Sync functions on a `sqlite3.Connection`, called inside `Database.run` / `Database.read`.
"""

from __future__ import annotations

import sqlite3

from agent.domain.kpis import ACTIONS, AuditRow

_BATCH = 5000
_PLACEHOLDERS = ",".join("?" * len(ACTIONS))  # one per fixed action name
_ROWS_SQL = (
    "SELECT a.seq, a.at, a.action, a.order_id, o.hold_s + o.hold_paused_s"  # noqa: S608
    " FROM audit a LEFT JOIN orders o ON o.order_id = a.order_id"
    f" WHERE a.seq > ? AND a.action IN ({_PLACEHOLDERS}) ORDER BY a.seq LIMIT ?"
)


def kpi_rows_after(conn: sqlite3.Connection, after_seq: int) -> list[AuditRow]:
    """The audit rows of the KPI actions after `after_seq`, with their order's full hold,
    oldest first (read in batches)."""
    rows: list[AuditRow] = []
    while True:
        batch = conn.execute(_ROWS_SQL, (after_seq, *ACTIONS, _BATCH)).fetchall()
        rows += [AuditRow(int(r[0]), float(r[1]), str(r[2]), r[3], r[4]) for r in batch]
        if len(batch) < _BATCH:
            return rows
        after_seq = int(batch[-1][0])


def counter_values(conn: sqlite3.Connection, name: str) -> dict[str, int]:
    """The persisted counter `name`, label -> value."""
    rows = conn.execute("SELECT label, value FROM kpi_counters WHERE name = ?", (name,))
    return {str(label): int(value) for label, value in rows.fetchall()}


def bump_counter(conn: sqlite3.Connection, name: str, label: str = "", by: int = 1) -> None:
    """Add to a persisted counter (inside the caller's transaction)."""
    conn.execute(
        "INSERT INTO kpi_counters (name, label, value) VALUES (?, ?, ?)"
        " ON CONFLICT (name, label) DO UPDATE SET value = value + excluded.value",
        (name, label, by),
    )
