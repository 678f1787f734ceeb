-- An e-mail address is unique within a tenant, not across SignalOps, so
-- creating a user never reveals whether an address exists in another
-- tenant (issue 12). Login finds the address's users across tenants.
SET lock_timeout = '2s';
DROP INDEX users_email_key;
CREATE UNIQUE INDEX users_tenant_email_key ON users (tenant_id, lower(email));
CREATE INDEX users_email_idx ON users (lower(email));
