-- Schema 2: locker and counter operations (courier loading, returns, counter, expiry).
-- (reserved; filled by the operations work)
SELECT 1;
