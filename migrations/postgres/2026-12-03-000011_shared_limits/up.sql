-- Limits shared across instances (issue 14): the auth routes' throttles live here, not in the
-- memory of one instance, so N instances behind a load balancer enforce one limit, not N.
-- Keys are HMAC-SHA-256 digests (hex) of the throttling key, never an address or an e-mail.

-- One row per client (IPv4 address, IPv6 /64): locked (upserted) by every attempt so the
-- attempts of one client are counted one after another on every instance; gone (with its
-- buckets) when unseen for two minutes.
CREATE TABLE limit_clients (
    key_hash TEXT PRIMARY KEY,
    seen_at TIMESTAMP NOT NULL
);
CREATE INDEX limit_clients_seen_idx ON limit_clients (seen_at);

-- The client's sliding minute as per-second buckets: attempts admitted in the second ending
-- at `bucket` (Unix seconds; an attempt's time rounded up).
CREATE TABLE limit_client_hits (
    key_hash TEXT NOT NULL REFERENCES limit_clients (key_hash) ON DELETE CASCADE,
    bucket BIGINT NOT NULL,
    hits BIGINT NOT NULL,
    PRIMARY KEY (key_hash, bucket)
);

-- Consecutive failed logins per (account or unknown address, client) and the end of the
-- current lock; forgotten 24 hours after the last attempt.
CREATE TABLE limit_logins (
    key_hash TEXT PRIMARY KEY,
    failures BIGINT NOT NULL,
    locked_until TIMESTAMP,
    last_at TIMESTAMP NOT NULL
);
CREATE INDEX limit_logins_last_idx ON limit_logins (last_at);
