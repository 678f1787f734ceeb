ALTER TABLE tenants DROP COLUMN weight;
