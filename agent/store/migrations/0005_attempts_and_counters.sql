-- Schema 5: the typed-code attempt budget and the locker's counters survive restarts.
-- `attempt_budget` holds the two token buckets of `agent/domain/attempts.py` (one row, scope
-- 'typed_code'); a restart used to reset an in-memory limiter. `kpi_counters` holds counters
-- that Prometheus must never see go down (failed attempts by reason, expiries, returns...).

CREATE TABLE attempt_budget (
    scope TEXT PRIMARY KEY,
    burst REAL NOT NULL,
    daily REAL NOT NULL,
    updated_at REAL NOT NULL
);

CREATE TABLE kpi_counters (
    name TEXT NOT NULL,
    label TEXT NOT NULL DEFAULT '',
    value INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (name, label)
);
