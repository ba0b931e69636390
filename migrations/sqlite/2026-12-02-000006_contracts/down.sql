DROP TABLE clock_offset;
DROP TABLE payments;
DROP TABLE installments;
DROP TABLE contract_parcels;
DROP TABLE contracts;
ALTER TABLE villages DROP COLUMN legal_representative;
ALTER TABLE villages DROP COLUMN unified_social_credit_code;
ALTER TABLE villages DROP COLUMN legal_name;
