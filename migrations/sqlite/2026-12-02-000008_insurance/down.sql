DROP TABLE recoveries;
DROP TABLE claims;
DROP TABLE policies;
ALTER TABLE installments DROP COLUMN policy_reminded_at;
