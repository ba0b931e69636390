-- Bids, deals and idempotency keys.

CREATE TABLE bids (
    id TEXT PRIMARY KEY,
    listing_id TEXT NOT NULL REFERENCES listings (id),
    registration_id TEXT NOT NULL REFERENCES registrations (id),
    -- acceptance order within the listing, 1, 2, 3, ...
    seq INTEGER NOT NULL,
    -- n of the public alias 竞买人 n: the order of this bidder's first accepted bid
    bidder_no INTEGER NOT NULL,
    amount_fen INTEGER NOT NULL,
    priority BOOLEAN NOT NULL,
    placed_at TEXT NOT NULL,
    -- the new end of the auction when this bid extended it
    extended_to TEXT,
    UNIQUE (listing_id, seq)
);
CREATE INDEX bids_registration_idx ON bids (registration_id, amount_fen);

CREATE TABLE deals (
    id TEXT PRIMARY KEY,
    listing_id TEXT NOT NULL REFERENCES listings (id),
    registration_id TEXT NOT NULL REFERENCES registrations (id),
    -- 1: the winner (or the negotiated party); 2: the runner-up's fallback offer
    round INTEGER NOT NULL,
    negotiated BOOLEAN NOT NULL,
    confirmation_no TEXT NOT NULL UNIQUE,
    bidder_no INTEGER NOT NULL,
    price_fen INTEGER NOT NULL,
    annual_rent_fen INTEGER NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('pending_confirmation', 'confirmed', 'fallen_through')),
    awarded_at TEXT NOT NULL,
    confirm_by TEXT NOT NULL,
    publicity_ends_at TEXT NOT NULL,
    winner_confirmed_at TEXT,
    collective_confirmed_at TEXT,
    fell_through_at TEXT,
    fall_reason TEXT,
    staff_reminded_at TEXT,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
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
    status INTEGER,
    response_body TEXT,
    location TEXT,
    content_type TEXT,
    created_at TEXT NOT NULL,
    PRIMARY KEY (user_id, key)
);
CREATE INDEX idempotency_keys_created_idx ON idempotency_keys (created_at);
