-- Fleet hub state: devices, events stored once by (fleet, device, seq), alarms, commands.
CREATE TABLE devices (
    fleet        text NOT NULL,
    device       text NOT NULL,
    through_seq  bigint NOT NULL DEFAULT 0,      -- highest contiguous seq stored
    online       boolean NOT NULL DEFAULT false,
    status_at    double precision,
    offline_since double precision,
    alarm        text,                            -- the device's own alarm (OUTBOX_STALLED)
    state        jsonb,
    state_at     double precision,
    trust_version bigint,
    trust_issued_at double precision,
    PRIMARY KEY (fleet, device)
);

CREATE TABLE events (
    fleet          text NOT NULL,
    device         text NOT NULL,
    seq            bigint NOT NULL,
    kind           text NOT NULL,
    transaction_id text NOT NULL,
    created_at     double precision NOT NULL,
    body           jsonb NOT NULL,
    digest         bytea NOT NULL,               -- SHA-256 of the event's canonical JSON
    stored_at      double precision NOT NULL,
    PRIMARY KEY (fleet, device, seq)
);
CREATE INDEX events_kind ON events (fleet, kind);

CREATE TABLE alarms (
    id          bigserial PRIMARY KEY,
    fleet       text NOT NULL,
    device      text NOT NULL,
    kind        text NOT NULL,
    detail      text NOT NULL DEFAULT '',
    raised_at   double precision NOT NULL,
    cleared_at  double precision
);
-- one open alarm per (device, kind): raising again only counts
CREATE UNIQUE INDEX alarms_open ON alarms (fleet, device, kind) WHERE cleared_at IS NULL;

CREATE TABLE commands (
    message_id     text PRIMARY KEY,
    fleet          text NOT NULL,
    device         text NOT NULL,
    transaction_id text NOT NULL,
    name           text NOT NULL,
    payload        bytea NOT NULL,
    status         text NOT NULL DEFAULT 'pending',   -- pending | ok | nack
    reason         text,
    result         jsonb,
    created_at     double precision NOT NULL,
    sent_at        double precision,
    answered_at    double precision
);
CREATE INDEX commands_pending ON commands (fleet, device) WHERE status = 'pending';

CREATE TABLE trust_bundles (
    fleet        text NOT NULL,
    version      bigint NOT NULL,
    issued_at    double precision NOT NULL,      -- publish from then on
    next_update  double precision NOT NULL,
    bundle       text NOT NULL,                  -- base64 of the root-signed COSE bundle
    published_at double precision,
    PRIMARY KEY (fleet, version)
);
