-- Schema 4: hub command idempotency keys bound to what they were first used for, and
-- reusable-packaging returns.
-- `inbox.args_digest` is SHA-256 over the command's name and args (hub_sync.commands.args_digest):
-- the same transaction id with another command is refused, never answered from the stored result.
-- Rows from before this schema have NULL and are matched on the command name only.
-- A return of `purpose` 'packaging' (a reusable liner or box) needs no order: `items` counts what
-- went in, `credit_ref` is the customer's opaque credit reference (no personal data).

ALTER TABLE inbox ADD COLUMN args_digest TEXT;

ALTER TABLE returns ADD COLUMN purpose TEXT NOT NULL DEFAULT 'order' CHECK (purpose IN ('order', 'packaging'));

ALTER TABLE returns ADD COLUMN items INTEGER NOT NULL DEFAULT 1 CHECK (items BETWEEN 1 AND 50);

ALTER TABLE returns ADD COLUMN credit_ref TEXT;
