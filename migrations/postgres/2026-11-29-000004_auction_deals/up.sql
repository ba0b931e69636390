-- Bids, deals and idempotency keys.

CREATE TABLE bids (
    id TEXT PRIMARY KEY,
    listing_id TEXT NOT NULL REFERENCES listings (id),
    registration_id TEXT NOT NULL REFERENCES registrations (id),
    -- acceptance order within the listing, 1, 2, 3, ...
    seq BIGINT NOT NULL,
    -- n of the public alias 竞买人 n: the order of this bidder's first accepted bid
    bidder_no BIGINT NOT NULL,
    amount_fen BIGINT NOT NULL,
    priority BOOLEAN NOT NULL,
    placed_at TIMESTAMP NOT NULL,
    -- the new end of the auction when this bid extended it
    extended_to TIMESTAMP,
    UNIQUE (listing_id, seq)
);
CREATE INDEX bids_registration_idx ON bids (registration_id, amount_fen);

CREATE TABLE deals (
    id TEXT PRIMARY KEY,
    listing_id TEXT NOT NULL REFERENCES listings (id),
    registration_id TEXT NOT NULL REFERENCES registrations (id),
    -- 1: the winner (or the negotiated party); 2: the runner-up's fallback offer
    round BIGINT NOT NULL,
    negotiated BOOLEAN NOT NULL,
    confirmation_no TEXT NOT NULL UNIQUE,
    bidder_no BIGINT NOT NULL,
    price_fen BIGINT NOT NULL,
    annual_rent_fen BIGINT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('pending_confirmation', 'confirmed', 'fallen_through')),
    awarded_at TIMESTAMP NOT NULL,
    confirm_by TIMESTAMP NOT NULL,
    publicity_ends_at TIMESTAMP NOT NULL,
    winner_confirmed_at TIMESTAMP,
    collective_confirmed_at TIMESTAMP,
    fell_through_at TIMESTAMP,
    fall_reason TEXT,
    staff_reminded_at TIMESTAMP,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL,
    UNIQUE (listing_id, round)
);
CREATE INDEX deals_due_idx ON deals (status, confirm_by);

CREATE TABLE idempotency_keys (
    user_id TEXT NOT NULL,
    key TEXT NOT NULL,
    method TEXT NOT NULL,
    path TEXT NOT NULL,
    request_hash TEXT NOT NULL,
    -- null while the first request is still running
    status BIGINT,
    response_body TEXT,
    location TEXT,
    content_type TEXT,
    created_at TIMESTAMP NOT NULL,
    PRIMARY KEY (user_id, key)
);
CREATE INDEX idempotency_keys_created_idx ON idempotency_keys (created_at);
