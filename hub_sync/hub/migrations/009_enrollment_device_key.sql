-- The device key (Ed25519, signs audit checkpoints and command replies) an enrollment request
-- carries, with its proof of possession (docs/protocol.md, "Enrollment and credentials"): the
-- enrollment service checks it again and registers the key (`device_keys`) when it issues the
-- credential.
ALTER TABLE device_invites ADD COLUMN device_key_proof jsonb;
