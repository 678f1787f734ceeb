SET LOCAL lock_timeout = '10s';
-- A tenant's share of the workers when several tenants have a backlog
-- (SPEC §8). NULL: its plan's default (modules/billing/plan.go).
ALTER TABLE tenants ADD COLUMN weight int CHECK (weight BETWEEN 1 AND 100);
