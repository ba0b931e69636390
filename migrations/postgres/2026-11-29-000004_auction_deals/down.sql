DROP TABLE idempotency_keys;
DROP TABLE deals;
DROP TABLE bids;
