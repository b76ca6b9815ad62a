-- Audit checkpoints: each locker's enrolled device key, and every checkpoint the hub verified.
CREATE TABLE device_keys (
    fleet       text NOT NULL,
    device      text NOT NULL,
    public_key  bytea NOT NULL,          -- raw Ed25519 public key (32 bytes)
    enrolled_at double precision NOT NULL,
    PRIMARY KEY (fleet, device)
);

CREATE TABLE audit_checkpoints (
    fleet       text NOT NULL,
    device      text NOT NULL,
    audit_seq   bigint NOT NULL,         -- the audit entry the checkpoint signs
    head_hash   bytea NOT NULL,
    verified    boolean NOT NULL,
    received_at double precision NOT NULL,
    PRIMARY KEY (fleet, device, audit_seq)
);
