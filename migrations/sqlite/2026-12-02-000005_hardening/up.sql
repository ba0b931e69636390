-- Hardening (issue 10): one registration per legal person per listing, found by a keyed hash
-- of the normalised ID number (HMAC under a key kept outside the database); parcel codes
-- unique whatever their letter case; audit records signed with a key id and carrying the
-- money a transition moved.

ALTER TABLE registrations ADD COLUMN id_number_hash TEXT;
CREATE UNIQUE INDEX registrations_listing_id_hash_key ON registrations (listing_id, id_number_hash);

CREATE UNIQUE INDEX parcels_code_ci_key ON parcels (lower(code));

ALTER TABLE audit_log ADD COLUMN key_id TEXT;
ALTER TABLE audit_log ADD COLUMN amount_fen BIGINT;
