-- Schema 3: door supervision, audit signatures, staff tools.
-- A door opening is "supervised" once its sensor confirmed it (or showed it jammed):
-- `seen_open_at` is when the sensor first read OPEN after the command; `outcome` records what
-- supervision concluded (seen_open, jammed, unverified, not_opened). Openings made before
-- supervision existed are closed as `before_supervision` so they are never judged afresh.

ALTER TABLE door_openings ADD COLUMN seen_open_at REAL;

ALTER TABLE door_openings ADD COLUMN outcome TEXT;

UPDATE door_openings SET outcome = 'before_supervision';

CREATE INDEX door_openings_unsupervised ON door_openings (id) WHERE outcome IS NULL;

CREATE INDEX door_openings_by_order ON door_openings (order_id, purpose);
