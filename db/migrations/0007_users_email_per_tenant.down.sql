-- Fails when one address is in several tenants: merge or rename them first.
SET lock_timeout = '2s';
DROP INDEX users_email_idx;
DROP INDEX users_tenant_email_key;
CREATE UNIQUE INDEX users_email_key ON users (lower(email));
