-- Order intake: orders the operator's system created through the hub's API. The typed code and
-- the token are handed to the caller once and never stored; only the keyed digest is kept.
CREATE TABLE orders (
    fleet        text NOT NULL,
    order_id     text NOT NULL,
    device       text NOT NULL,
    size         text NOT NULL,
    hold_s       bigint NOT NULL,
    policy       jsonb NOT NULL,
    code_digest  text NOT NULL,        -- hmac-sha256 of the code with the device's typed-code key
    state        text NOT NULL,        -- announced | cancelled | redirected
    created_at   double precision NOT NULL,
    updated_at   double precision NOT NULL,
    PRIMARY KEY (fleet, order_id)
);

ALTER TABLE commands ADD COLUMN order_id text;
CREATE INDEX commands_order ON commands (fleet, order_id);
