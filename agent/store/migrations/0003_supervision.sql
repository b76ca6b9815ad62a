-- Schema 3: door supervision, audit signatures, staff tools.
-- (reserved; filled by the supervision work)
SELECT 1;
