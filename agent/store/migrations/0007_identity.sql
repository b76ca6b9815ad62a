-- Schema 6: what an order needs proven about its customer (issue 15). `min_age` is the age to
-- prove (a verified wallet at the locker, an ID check at the counter); `recipient_salt` and
-- `recipient_digest` are the named recipient as SHA-256(salt || normalised name): the locker
-- never stores the name itself.

ALTER TABLE orders ADD COLUMN min_age INTEGER CHECK (min_age IS NULL OR min_age BETWEEN 0 AND 99);

ALTER TABLE orders ADD COLUMN recipient_salt BLOB;

ALTER TABLE orders ADD COLUMN recipient_digest BLOB;
