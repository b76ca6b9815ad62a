-- Schema 5: evidence photos (C2PA-signed JPEGs in data_dir/evidence/, see docs/evidence.md).
-- One row per photo, written in the same transaction as its `evidence.captured` outbox event and
-- audit entry. `audit_seq`/`audit_hash` name the audit entry the photo documents (the chain link
-- signed into its manifest); `before_id` links an "after" photo to its "before" photo;
-- `occupied` is the compartment check (1 occupied, 0 empty, NULL not judged); `uploaded_at` is set
-- when the hub confirmed the whole file; `pruned_at` when the file was deleted by retention.

CREATE TABLE evidence_photos (
    id TEXT PRIMARY KEY,
    event TEXT NOT NULL,
    door INTEGER,
    order_ref TEXT,
    file TEXT NOT NULL,
    sha256 TEXT NOT NULL,
    bytes INTEGER NOT NULL CHECK (bytes > 0),
    before_id TEXT REFERENCES evidence_photos (id),
    audit_seq INTEGER NOT NULL,
    audit_hash TEXT NOT NULL,
    occupied INTEGER CHECK (occupied IN (0, 1)),
    captured_at REAL NOT NULL,
    uploaded_at REAL,
    pruned_at REAL
);

CREATE INDEX evidence_by_order ON evidence_photos (order_ref, captured_at);

CREATE INDEX evidence_by_age ON evidence_photos (captured_at);
