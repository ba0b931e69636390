-- Bidder registrations with qualification and deposit state. ID numbers are stored
-- encrypted (id_number_enc) plus their masked form; phones are personal data too.

CREATE TABLE registrations (
    id TEXT PRIMARY KEY,
    listing_id TEXT NOT NULL REFERENCES listings (id),
    investor_id TEXT NOT NULL REFERENCES users (id),
    legal_name TEXT NOT NULL,
    id_type TEXT NOT NULL CHECK (id_type IN ('resident_id', 'unified_social_credit_code')),
    id_number_enc TEXT NOT NULL,
    id_number_masked TEXT NOT NULL,
    phone TEXT NOT NULL,
    experience TEXT NOT NULL,
    business_plan TEXT NOT NULL,
    claims_membership BOOLEAN NOT NULL,
    member_verified BOOLEAN NOT NULL DEFAULT 0,
    status TEXT NOT NULL CHECK (status IN ('applied', 'qualified', 'rejected')),
    reject_reason TEXT,
    reviewed_at TEXT,
    deposit_status TEXT NOT NULL CHECK (deposit_status IN ('unpaid', 'confirmed', 'refund_due', 'refunded', 'forfeited', 'applied_to_rent')),
    deposit_amount_fen INTEGER,
    deposit_receipt_ref TEXT,
    deposit_confirmed_at TEXT,
    refund_receipt_ref TEXT,
    refunded_at TEXT,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    UNIQUE (listing_id, investor_id)
);
CREATE INDEX registrations_listing_idx ON registrations (listing_id, id);
CREATE INDEX registrations_investor_idx ON registrations (investor_id, id);
