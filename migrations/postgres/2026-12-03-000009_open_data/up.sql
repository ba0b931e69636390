-- Open data (issue 13): one published record per listing outcome (awarded, contracted or
-- failed), rewritten in the transaction of every change that alters it, with a feed sequence
-- from `counters` ('open-data') so a mirror can follow the changes in commit order.
CREATE TABLE open_deals (
    listing_id TEXT PRIMARY KEY REFERENCES listings (id),
    feed_seq BIGINT NOT NULL,
    township_id TEXT NOT NULL,
    village_id TEXT NOT NULL,
    outcome TEXT NOT NULL,
    year BIGINT NOT NULL,
    body TEXT NOT NULL,
    published_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL
);
CREATE UNIQUE INDEX open_deals_feed ON open_deals (feed_seq);
CREATE INDEX open_deals_township ON open_deals (township_id, year, listing_id);
CREATE INDEX open_deals_year ON open_deals (year, listing_id);
CREATE INDEX open_deals_village ON open_deals (village_id, listing_id);

-- Statistics by Shanghai calendar year: each aggregate filters on the time of its event.
CREATE INDEX contracts_certified ON contracts (certified_at, township_id);
CREATE INDEX deals_awarded ON deals (awarded_at);
CREATE INDEX listings_closed ON listings (closed_at, township_id);
CREATE INDEX installments_due ON installments (due_date, township_id);
CREATE INDEX policies_issued ON policies (issued_at, township_id);
CREATE INDEX claims_created ON claims (created_at, township_id);
CREATE INDEX recoveries_received ON recoveries (received_on);
