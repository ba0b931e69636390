-- Collusion signals read a township's listings by when their registration closes.
CREATE INDEX listings_township_closes_idx ON listings (township_id, registration_closes_at, id);
