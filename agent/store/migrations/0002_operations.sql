-- Schema 2: locker and counter operations (courier loading, returns, counter, expiry).
-- A pending load or a return in a door occupies that door (see lockers.list_doors).

-- One row per parcel a courier puts in a door: `pending` from the latch pulse until the door
-- sensor (or the courier, when the sensor is dead) confirms the door closed.
CREATE TABLE loads (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    order_id TEXT NOT NULL REFERENCES orders (order_id),
    parcel_id TEXT NOT NULL,
    door INTEGER NOT NULL REFERENCES doors (number),
    actor TEXT NOT NULL,
    state TEXT NOT NULL
        CHECK (state IN ('pending', 'confirmed', 'too_small', 'cancelled', 'failed')),
    sensor TEXT,
    created_at REAL NOT NULL,
    finished_at REAL
);

CREATE INDEX loads_by_state_and_door ON loads (state, door);

-- A parcel is in at most one live load: scanning it again cannot put it in two doors.
CREATE UNIQUE INDEX loads_one_live_per_parcel ON loads (order_id, parcel_id)
    WHERE state IN ('pending', 'confirmed');

-- Customer returns: `expected` (announced by the hub, typed code possible), `opening` (door
-- being opened), `dropped_off` (in a door, or at the counter when door is NULL), `collected`.
CREATE TABLE returns (
    order_ref TEXT PRIMARY KEY,
    size TEXT NOT NULL CHECK (size IN ('S', 'M', 'L')),
    state TEXT NOT NULL
        CHECK (state IN ('expected', 'opening', 'dropped_off', 'collected')),
    door INTEGER REFERENCES doors (number),
    receipt TEXT UNIQUE,
    code_key TEXT UNIQUE,
    via TEXT,
    evidence_sha256 TEXT,
    needs_attention TEXT,
    created_at REAL NOT NULL,
    updated_at REAL NOT NULL
);

-- Orders the hub wants taken out by a courier (besides expired ones).
CREATE TABLE retrievals (
    order_id TEXT PRIMARY KEY REFERENCES orders (order_id),
    reason TEXT NOT NULL CHECK (reason IN ('return_to_sender', 'cancelled')),
    requested_at REAL NOT NULL
);
