-- Contracts (流转合同), their frozen parcels, the rent schedule and its payments (issue 11);
-- the villages' legal identity (the transferor 甲方); the test clock's stored offset.

ALTER TABLE villages ADD COLUMN legal_name TEXT;
ALTER TABLE villages ADD COLUMN unified_social_credit_code TEXT;
ALTER TABLE villages ADD COLUMN legal_representative TEXT;

CREATE TABLE contracts (
    id TEXT PRIMARY KEY,
    listing_id TEXT NOT NULL UNIQUE REFERENCES listings (id),
    deal_id TEXT NOT NULL UNIQUE REFERENCES deals (id),
    registration_id TEXT NOT NULL REFERENCES registrations (id),
    village_id TEXT NOT NULL REFERENCES villages (id),
    township_id TEXT NOT NULL REFERENCES townships (id),
    status TEXT NOT NULL CHECK (status IN ('draft', 'signed', 'certified', 'active', 'completed', 'terminated', 'cancelled')),
    certification_no TEXT UNIQUE,
    -- 甲方, frozen from the village when the collective signs
    transferor_name TEXT,
    transferor_credit_code TEXT,
    transferor_legal_representative TEXT,
    -- 乙方, frozen from the winner's registration
    investor_id TEXT NOT NULL REFERENCES users (id),
    transferee_legal_name TEXT NOT NULL,
    transferee_id_type TEXT NOT NULL,
    transferee_id_number_enc TEXT NOT NULL,
    transferee_id_number_masked TEXT NOT NULL,
    total_area_centimu INTEGER NOT NULL,
    intended_use TEXT NOT NULL,
    term_start DATE NOT NULL,
    term_end DATE NOT NULL,
    years INTEGER NOT NULL,
    price_fen INTEGER NOT NULL,
    annual_rent_fen INTEGER NOT NULL,
    total_rent_fen INTEGER NOT NULL,
    deposit_fen INTEGER NOT NULL,
    rent_due_days_before_year INTEGER NOT NULL,
    insurance_required BOOLEAN NOT NULL,
    transferor_signed_by TEXT,
    transferor_signed_at TEXT,
    transferee_signed_by TEXT,
    transferee_signed_at TEXT,
    signed_at TEXT,
    certified_by TEXT,
    certified_at TEXT,
    activated_at TEXT,
    completed_at TEXT,
    terminated_by TEXT,
    terminated_at TEXT,
    terminated_on DATE,
    termination_ground TEXT,
    termination_note TEXT,
    cancelled_by TEXT,
    cancelled_at TEXT,
    cancel_reason TEXT,
    forfeit BOOLEAN,
    draft_reminded_at TEXT,
    signed_reminded_at TEXT,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
CREATE INDEX contracts_township_idx ON contracts (township_id, id);
CREATE INDEX contracts_village_idx ON contracts (village_id, id);
CREATE INDEX contracts_investor_idx ON contracts (investor_id, id);
CREATE INDEX contracts_status_idx ON contracts (status, id);

CREATE TABLE contract_parcels (
    contract_id TEXT NOT NULL REFERENCES contracts (id),
    parcel_id TEXT NOT NULL REFERENCES parcels (id),
    code TEXT NOT NULL,
    location TEXT NOT NULL,
    area_centimu INTEGER NOT NULL,
    land_type TEXT NOT NULL,
    quality_grade INTEGER,
    PRIMARY KEY (contract_id, parcel_id)
);
CREATE INDEX contract_parcels_parcel_idx ON contract_parcels (parcel_id);

CREATE TABLE installments (
    id TEXT PRIMARY KEY,
    contract_id TEXT NOT NULL REFERENCES contracts (id),
    village_id TEXT NOT NULL,
    township_id TEXT NOT NULL,
    investor_id TEXT NOT NULL,
    year INTEGER NOT NULL,
    period_start DATE NOT NULL,
    period_end DATE NOT NULL,
    due_date DATE NOT NULL,
    amount_fen INTEGER NOT NULL CHECK (amount_fen >= 0),
    paid_fen INTEGER NOT NULL DEFAULT 0,
    insurer_paid_fen INTEGER NOT NULL DEFAULT 0,
    status TEXT NOT NULL CHECK (status IN ('scheduled', 'due', 'overdue', 'defaulted', 'paid', 'covered', 'cancelled')),
    -- each reminder once, whichever instance sends it
    reminded_week_before_at TEXT,
    reminded_due_at TEXT,
    reminded_overdue_at TEXT,
    default_notified_at TEXT,
    defaulted_at TEXT,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    CHECK (paid_fen + insurer_paid_fen <= amount_fen),
    UNIQUE (contract_id, year)
);
CREATE INDEX installments_status_idx ON installments (status, due_date);
CREATE INDEX installments_township_idx ON installments (township_id, id);
CREATE INDEX installments_village_idx ON installments (village_id, id);
CREATE INDEX installments_investor_idx ON installments (investor_id, id);

CREATE TABLE payments (
    id TEXT PRIMARY KEY,
    installment_id TEXT NOT NULL REFERENCES installments (id),
    contract_id TEXT NOT NULL REFERENCES contracts (id),
    amount_fen INTEGER NOT NULL CHECK (amount_fen > 0),
    received_on DATE NOT NULL,
    receipt_ref TEXT NOT NULL,
    kind TEXT NOT NULL CHECK (kind IN ('payment', 'deposit')),
    recorded_by TEXT,
    created_at TEXT NOT NULL
);
CREATE INDEX payments_installment_idx ON payments (installment_id, created_at, id);

-- The test clock (clock.travel): one row, the offset every instance adds to its wall clock.
CREATE TABLE clock_offset (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    offset_secs INTEGER NOT NULL,
    updated_at TEXT NOT NULL
);
