-- The same event (its transaction id) stored under two seqs of one locker raises DUPLICATE_EVENT:
-- the locker re-inserted outbox rows (a bug, or its database was edited). Agents mint a fresh
-- transaction id per event; a command's own event re-uses the command's id once.
CREATE INDEX events_transaction ON events (fleet, device, transaction_id);
