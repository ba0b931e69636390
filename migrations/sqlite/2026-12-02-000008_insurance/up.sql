-- Performance insurance (履约保证保险, issue 12): one policy per contract year (quoted by the
-- operator or staff, issued by the insurer), claims on defaulted installments and the
-- recoveries (追偿) from the operator.

ALTER TABLE installments ADD COLUMN policy_reminded_at TEXT;

CREATE TABLE policies (
    id TEXT PRIMARY KEY,
    policy_no TEXT,
    contract_id TEXT NOT NULL REFERENCES contracts (id),
    installment_id TEXT NOT NULL REFERENCES installments (id),
    year INTEGER NOT NULL,
    insurer_id TEXT NOT NULL REFERENCES insurers (id),
    village_id TEXT NOT NULL,
    township_id TEXT NOT NULL,
    investor_id TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('quoted', 'issued', 'active', 'expired', 'claimed', 'cancelled')),
    period_start DATE NOT NULL,
    period_end DATE NOT NULL,
    sum_insured_fen INTEGER NOT NULL CHECK (sum_insured_fen >= 0),
    premium_rate_bp INTEGER NOT NULL,
    premium_fen INTEGER NOT NULL,
    subsidy_share_bp INTEGER NOT NULL,
    subsidy_fen INTEGER NOT NULL,
    holder_premium_fen INTEGER NOT NULL,
    quoted_by TEXT,
    issued_by TEXT,
    issued_at TEXT,
    cancelled_at TEXT,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    CHECK (premium_fen = subsidy_fen + holder_premium_fen),
    UNIQUE (insurer_id, policy_no)
);
-- One policy per contract year that isn't cancelled.
CREATE UNIQUE INDEX policies_live_year_key ON policies (contract_id, year) WHERE status <> 'cancelled';
CREATE INDEX policies_insurer_idx ON policies (insurer_id, id);
CREATE INDEX policies_contract_idx ON policies (contract_id, year);
CREATE INDEX policies_status_idx ON policies (status, period_start);

CREATE TABLE claims (
    id TEXT PRIMARY KEY,
    claim_no TEXT NOT NULL UNIQUE,
    policy_id TEXT NOT NULL REFERENCES policies (id),
    installment_id TEXT NOT NULL REFERENCES installments (id),
    contract_id TEXT NOT NULL REFERENCES contracts (id),
    insurer_id TEXT NOT NULL REFERENCES insurers (id),
    village_id TEXT NOT NULL,
    township_id TEXT NOT NULL,
    investor_id TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('filed', 'under_review', 'approved', 'rejected', 'paid', 'recovery_open', 'recovered', 'written_off')),
    claimed_fen INTEGER NOT NULL CHECK (claimed_fen >= 1),
    approved_fen INTEGER,
    paid_fen INTEGER NOT NULL DEFAULT 0,
    recovered_fen INTEGER NOT NULL DEFAULT 0,
    note TEXT NOT NULL,
    decided_reason TEXT,
    payment_ref TEXT,
    filed_by TEXT,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    CHECK (approved_fen IS NULL OR (approved_fen >= 1 AND approved_fen <= claimed_fen)),
    CHECK (recovered_fen >= 0 AND recovered_fen <= paid_fen)
);
-- One open claim per installment.
CREATE UNIQUE INDEX claims_open_installment_key ON claims (installment_id) WHERE status IN ('filed', 'under_review', 'approved');
CREATE INDEX claims_insurer_idx ON claims (insurer_id, id);
CREATE INDEX claims_contract_idx ON claims (contract_id, id);

CREATE TABLE recoveries (
    id TEXT PRIMARY KEY,
    claim_id TEXT NOT NULL REFERENCES claims (id),
    amount_fen INTEGER NOT NULL CHECK (amount_fen >= 1),
    received_on DATE NOT NULL,
    ref TEXT NOT NULL,
    recorded_by TEXT,
    created_at TEXT NOT NULL
);
CREATE INDEX recoveries_claim_idx ON recoveries (claim_id, id);
