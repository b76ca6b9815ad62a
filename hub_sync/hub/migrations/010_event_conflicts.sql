-- An event that arrives under a seq the hub already holds with other content (SEQ_BACKWARDS) is
-- kept here instead of being dropped as a duplicate: whichever version is the locker's own (a
-- restored outbox, or a forgery by whoever can publish on the broker that got there first), no
-- version the hub received is lost, and the alarm's investigation has both.
CREATE TABLE event_conflicts (
    fleet          text NOT NULL,
    device         text NOT NULL,
    seq            bigint NOT NULL,
    kind           text NOT NULL,
    transaction_id text NOT NULL,
    created_at     double precision NOT NULL,
    body           jsonb NOT NULL,
    digest         bytea NOT NULL,
    received_at    double precision NOT NULL,
    PRIMARY KEY (fleet, device, seq, digest)
);
