DROP INDEX recoveries_received;
DROP INDEX claims_created;
DROP INDEX policies_issued;
DROP INDEX installments_due;
DROP INDEX listings_closed;
DROP INDEX deals_awarded;
DROP INDEX contracts_certified;
DROP TABLE open_deals;
