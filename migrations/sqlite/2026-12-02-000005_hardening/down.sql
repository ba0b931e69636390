ALTER TABLE audit_log DROP COLUMN amount_fen;
ALTER TABLE audit_log DROP COLUMN key_id;
DROP INDEX parcels_code_ci_key;
DROP INDEX registrations_listing_id_hash_key;
ALTER TABLE registrations DROP COLUMN id_number_hash;
