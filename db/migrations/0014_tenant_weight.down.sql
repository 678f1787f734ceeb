SET LOCAL lock_timeout = '10s';
ALTER TABLE tenants DROP COLUMN weight;
