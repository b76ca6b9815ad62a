-- Schema 1: doors, orders, spent tokens, door openings, outbox, inbox, audit, settings.
-- Times are unix seconds (REAL) from the device clock; JSON columns hold no personal data.

CREATE TABLE settings (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL
);

CREATE TABLE doors (
    number INTEGER PRIMARY KEY,
    size TEXT NOT NULL CHECK (size IN ('S', 'M', 'L')),
    low INTEGER NOT NULL DEFAULT 0 CHECK (low IN (0, 1)),
    enabled INTEGER NOT NULL DEFAULT 1 CHECK (enabled IN (0, 1)),
    fault TEXT,
    sensor TEXT NOT NULL DEFAULT 'unknown',
    fault_since REAL
);

CREATE TABLE orders (
    order_id TEXT PRIMARY KEY,
    kind TEXT NOT NULL DEFAULT 'pickup' CHECK (kind IN ('pickup', 'return')),
    state TEXT NOT NULL,
    size TEXT NOT NULL CHECK (size IN ('S', 'M', 'L')),
    door INTEGER REFERENCES doors (number),
    parcels TEXT NOT NULL DEFAULT '[]',
    accessible INTEGER NOT NULL DEFAULT 0,
    live_required INTEGER NOT NULL DEFAULT 0,
    id_check_required INTEGER NOT NULL DEFAULT 0,
    high_value INTEGER NOT NULL DEFAULT 0,
    hold_s REAL NOT NULL,
    hold_started_at REAL,
    hold_paused_s REAL NOT NULL DEFAULT 0,
    hold_paused_since REAL,
    code_key TEXT UNIQUE,
    needs_attention TEXT,
    created_at REAL NOT NULL,
    updated_at REAL NOT NULL
);

CREATE INDEX orders_by_state ON orders (state);

CREATE TABLE spent_tokens (
    cti BLOB PRIMARY KEY,
    order_id TEXT NOT NULL,
    spent_at REAL NOT NULL,
    opening_id INTEGER
);

CREATE TABLE door_openings (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    door INTEGER NOT NULL REFERENCES doors (number),
    order_id TEXT,
    purpose TEXT NOT NULL,
    requested_at REAL NOT NULL,
    result TEXT CHECK (result IN ('opened', 'failed', 'interrupted')),
    finished_at REAL
);

CREATE TABLE outbox (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    kind TEXT NOT NULL,
    transaction_id TEXT NOT NULL,
    body TEXT NOT NULL,
    created_at REAL NOT NULL
);

CREATE TABLE inbox (
    transaction_id TEXT PRIMARY KEY,
    kind TEXT NOT NULL,
    result TEXT NOT NULL,
    applied_at REAL NOT NULL
);

CREATE TABLE audit (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    at REAL NOT NULL,
    actor TEXT NOT NULL,
    action TEXT NOT NULL,
    order_id TEXT,
    door INTEGER,
    detail TEXT NOT NULL DEFAULT '{}',
    prev_hash BLOB NOT NULL,
    hash BLOB NOT NULL
);

CREATE TRIGGER audit_no_update BEFORE UPDATE ON audit
BEGIN
    SELECT RAISE(ABORT, 'audit log is append-only');
END;

CREATE TRIGGER audit_no_delete BEFORE DELETE ON audit
BEGIN
    SELECT RAISE(ABORT, 'audit log is append-only');
END;
