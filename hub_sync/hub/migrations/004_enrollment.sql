-- Device lifecycle: invites (one-time codes, stored as a keyed digest), credentials, revocation.
CREATE TABLE device_registry (
    fleet       text NOT NULL,
    device      text NOT NULL,
    site        text NOT NULL,
    layout      jsonb NOT NULL,
    state       text NOT NULL,            -- invited | pending | active | revoked
    updated_at  double precision NOT NULL,
    revoked_at  double precision,
    PRIMARY KEY (fleet, device)
);

CREATE TABLE device_invites (
    id          bigserial PRIMARY KEY,
    fleet       text NOT NULL,
    device      text NOT NULL,
    code_digest bytea NOT NULL UNIQUE,    -- HMAC-SHA256(hub invite secret, code); never the code
    created_at  double precision NOT NULL,
    expires_at  double precision NOT NULL,
    status      text NOT NULL DEFAULT 'open',  -- open | pending | approved | done | cancelled
    auto_approve boolean NOT NULL DEFAULT false,
    nonce       text,                     -- the request that used it
    csr         text,
    used_at     double precision,
    approved_at double precision,
    answered_at double precision
);
CREATE INDEX device_invites_device ON device_invites (fleet, device);

CREATE TABLE device_credentials (
    fleet       text NOT NULL,
    serial      text NOT NULL,            -- certificate serial (hex)
    device      text NOT NULL,
    cert_pem    text NOT NULL,
    broker_user text NOT NULL,            -- the broker user name (NATS: device~n)
    secret_hash text,                     -- bcrypt of the broker password (NATS), if any
    issued_at   double precision NOT NULL,
    not_after   double precision NOT NULL,
    revoked_at  double precision,
    PRIMARY KEY (fleet, serial)
);
CREATE INDEX device_credentials_live ON device_credentials (fleet, device) WHERE revoked_at IS NULL;

CREATE TABLE device_rotations (
    fleet        text NOT NULL,
    device       text NOT NULL,
    requested_at double precision NOT NULL,
    old_serial   text NOT NULL,
    new_serial   text,
    nonce        text,
    issued_at    double precision,
    done_at      double precision,
    PRIMARY KEY (fleet, device, requested_at)
);
