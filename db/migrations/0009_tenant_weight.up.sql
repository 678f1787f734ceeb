-- A tenant's share of the queues when several are backlogged (ADR 0008):
-- NULL means the plan's default (auth.DefaultWeight). Owned by modules/auth.
ALTER TABLE tenants ADD COLUMN weight integer CHECK (weight BETWEEN 1 AND 1000);
