-- Evidence photos uploaded in chunks (docs/protocol.md, "Photo upload"; docs/evidence.md, hub).
-- `data` holds the contiguous prefix received so far, then the whole signed JPEG (bytea: a photo
-- is 50-500 KB, and the chunk, the prefix length and the verdict commit in one transaction).
CREATE TABLE evidence_photos (
    fleet        text NOT NULL,
    device       text NOT NULL,
    photo        text NOT NULL,
    sha256       text NOT NULL,
    size         integer NOT NULL,
    received     integer NOT NULL DEFAULT 0,
    data         bytea NOT NULL DEFAULT '',
    status       text NOT NULL DEFAULT 'partial',   -- partial | stored | rejected
    reason       text,                              -- why the hub rejected it
    first_at     double precision NOT NULL,
    completed_at double precision,
    PRIMARY KEY (fleet, device, photo)
);
