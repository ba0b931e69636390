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
-- year first: PostgreSQL prices an index scan by the correlation of its first column with
-- the table's order, and the year follows it (records are published in time order) where the
-- township doesn't; led by the township, this index lost to the primary key, whose scan
-- skipped every record of the earlier years (docs/perf/open_data.md).
CREATE INDEX open_deals_township ON open_deals (year, township_id, listing_id);
CREATE INDEX open_deals_year ON open_deals (year, listing_id);
CREATE INDEX open_deals_village ON open_deals (village_id, listing_id);
-- the public list filtered by township alone, in listing order (the one above needs a year)
CREATE INDEX open_deals_township_list ON open_deals (township_id, listing_id);

-- Statistics by Shanghai calendar year: each aggregate filters on the time of its event.
CREATE INDEX contracts_certified ON contracts (certified_at, township_id);
CREATE INDEX deals_awarded ON deals (awarded_at);
-- listings: with the columns the two listing aggregates read (status, area; eligible
-- bidders and bids of auctions), so SQLite answers them from the index alone
CREATE INDEX listings_closed ON listings (closed_at, township_id, status, total_area_centimu, eligible_bidders, bid_count);
CREATE INDEX installments_due ON installments (due_date, township_id);
CREATE INDEX policies_issued ON policies (issued_at, township_id);
CREATE INDEX claims_created ON claims (created_at, township_id);
CREATE INDEX recoveries_received ON recoveries (received_on);
-- One township's year (the statistics with township_id), and each village's year (the
-- `villages` part for staff): an exact range instead of a whole year of the district or all
-- years of the place (benches/open_data.rs, docs/perf/open_data.md).
CREATE INDEX listings_township_closed ON listings (township_id, closed_at, status, total_area_centimu, eligible_bidders, bid_count);
CREATE INDEX contracts_township_certified ON contracts (township_id, certified_at);
CREATE INDEX listings_village_closed ON listings (village_id, closed_at);
CREATE INDEX contracts_village_certified ON contracts (village_id, certified_at);
CREATE INDEX installments_village_due ON installments (village_id, due_date);
