-- Each locker's latest `kpi.snapshot` (cumulative counts since its database was created: collected,
-- collected within hold, expired, dwell, returns, failed attempts by path and reason), kept at
-- ingest so the fleet status does not scan the events table for it.
ALTER TABLE devices
    ADD COLUMN kpi     jsonb,
    ADD COLUMN kpi_seq bigint NOT NULL DEFAULT 0,   -- seq of the snapshot kept (newest wins)
    ADD COLUMN kpi_at  double precision,            -- its created_at (the locker's clock)
    -- seqs the locker sent again that the hub already had (redeliveries after a worker or node
    -- died, resends after a lost confirm): normal in small numbers, counted, not alarmed
    ADD COLUMN duplicates bigint NOT NULL DEFAULT 0;
