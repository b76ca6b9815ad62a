-- Every audit device key a locker has had (agent/store/audit_rotation.py): a rotation hands over from
-- the key the hub trusts to the next; old checkpoints, a revoked locker's too, keep verifying.
CREATE TABLE device_key_history (
    fleet       text NOT NULL,
    device      text NOT NULL,
    kid         text NOT NULL,           -- hex of SHA-256(SPKI)[:8], as the agent names it
    public_key  bytea NOT NULL,          -- raw Ed25519 public key (32 bytes)
    since       double precision NOT NULL,
    PRIMARY KEY (fleet, device, kid)
);
-- the keys enrolled so far (the SPKI of an Ed25519 key is a fixed prefix + the raw key)
INSERT INTO device_key_history
SELECT fleet, device,
       substr(encode(sha256('\x302a300506032b6570032100'::bytea || public_key), 'hex'), 1, 16),
       public_key, enrolled_at
FROM device_keys;
