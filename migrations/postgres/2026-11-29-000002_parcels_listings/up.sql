-- Parcels ("one plot one code"), listings and their parcels, and gap-free counters.
-- Areas in hundredths of a mu (centimu), money in fen.

CREATE TABLE parcels (
    id TEXT PRIMARY KEY,
    code TEXT NOT NULL UNIQUE,
    village_id TEXT NOT NULL REFERENCES villages (id),
    township_id TEXT NOT NULL REFERENCES townships (id),
    area_centimu BIGINT NOT NULL CHECK (area_centimu > 0),
    land_type TEXT NOT NULL CHECK (land_type IN ('arable', 'garden', 'forest', 'aquaculture', 'facility')),
    permanent_basic_farmland BOOLEAN NOT NULL,
    quality_grade BIGINT CHECK (quality_grade BETWEEN 1 AND 10),
    households BIGINT NOT NULL CHECK (households >= 0),
    household_contract_end DATE NOT NULL,
    location TEXT NOT NULL,
    boundary_geojson TEXT,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL
);
CREATE INDEX parcels_village_idx ON parcels (village_id, id);
CREATE INDEX parcels_township_idx ON parcels (township_id, id);

CREATE TABLE listings (
    id TEXT PRIMARY KEY,
    listing_no TEXT UNIQUE,
    village_id TEXT NOT NULL REFERENCES villages (id),
    township_id TEXT NOT NULL REFERENCES townships (id),
    created_by TEXT NOT NULL REFERENCES users (id),
    status TEXT NOT NULL,
    -- visible to everyone (public search): derived, never written
    is_public BOOLEAN GENERATED ALWAYS AS (status IN ('announced', 'auction', 'awarded', 'contracted', 'failed')) STORED,
    title TEXT NOT NULL,
    description TEXT NOT NULL,
    intended_use TEXT NOT NULL,
    -- ",arable,garden," : the land types of its parcels, for the land_type filter
    land_types TEXT NOT NULL,
    term_start DATE NOT NULL,
    term_end DATE NOT NULL,
    reserve_price_fen BIGINT NOT NULL,
    min_increment_fen BIGINT NOT NULL,
    deposit_fen BIGINT NOT NULL,
    total_area_centimu BIGINT NOT NULL,
    annual_reserve_rent_fen BIGINT NOT NULL,
    registration_closes_at TIMESTAMP NOT NULL,
    auction_starts_at TIMESTAMP NOT NULL,
    auction_ends_at TIMESTAMP NOT NULL,
    extension_secs BIGINT NOT NULL,
    consent_resolution_date DATE NOT NULL,
    consent_members_agreeing BIGINT NOT NULL,
    consent_members_total BIGINT NOT NULL,
    consent_commissions_received BIGINT NOT NULL,
    attempt BIGINT NOT NULL DEFAULT 1,
    previous_listing_id TEXT REFERENCES listings (id),
    relisted_as_id TEXT,
    return_reason TEXT,
    cancel_reason TEXT,
    submitted_at TIMESTAMP,
    announced_at TIMESTAMP,
    closed_at TIMESTAMP,
    eligible_bidders BIGINT,
    current_price_fen BIGINT,
    current_ends_at TIMESTAMP,
    leading_registration_id TEXT,
    bid_count BIGINT NOT NULL DEFAULT 0,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL
);
CREATE INDEX listings_status_idx ON listings (status, id);
CREATE INDEX listings_township_idx ON listings (township_id, status, id);
CREATE INDEX listings_village_idx ON listings (village_id, status, id);
CREATE INDEX listings_closes_idx ON listings (status, registration_closes_at, id);
CREATE INDEX listings_public_idx ON listings (is_public, id);
CREATE INDEX listings_public_closes_idx ON listings (is_public, registration_closes_at, id);
CREATE INDEX listings_public_price_idx ON listings (is_public, reserve_price_fen, id);
CREATE INDEX listings_public_area_idx ON listings (is_public, total_area_centimu, id);
CREATE INDEX listings_ends_idx ON listings (status, current_ends_at);
CREATE INDEX listings_price_idx ON listings (status, reserve_price_fen, id);
CREATE INDEX listings_area_idx ON listings (status, total_area_centimu, id);
CREATE UNIQUE INDEX listings_one_relist_idx ON listings (previous_listing_id);

CREATE TABLE listing_parcels (
    listing_id TEXT NOT NULL REFERENCES listings (id),
    parcel_id TEXT NOT NULL REFERENCES parcels (id),
    PRIMARY KEY (listing_id, parcel_id)
);
CREATE INDEX listing_parcels_parcel_idx ON listing_parcels (parcel_id);

-- Gap-free numbering (listing_no, deal and certificate numbers): incremented inside the
-- transaction that uses the number, so a rolled-back use leaves no gap.
CREATE TABLE counters (
    scope TEXT PRIMARY KEY,
    value BIGINT NOT NULL
);
