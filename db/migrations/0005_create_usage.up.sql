-- Usage counters and limit notices: owned by modules/billing.
-- A tenant's count for a metric and month is spread over shards, so
-- concurrent ingestion of one tenant does not queue on one row lock.
CREATE TABLE usage_counters (
    tenant_id  uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    period     date NOT NULL, -- first day of the UTC month
    metric     text NOT NULL, -- events, rule_evaluations, notifications.<kind>
    shard      smallint NOT NULL,
    count      bigint NOT NULL DEFAULT 0,
    PRIMARY KEY (tenant_id, period, metric, shard)
);

-- At most one notice of a kind per tenant and period (soft_limit_reached).
CREATE TABLE usage_notices (
    tenant_id   uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    period      date NOT NULL,
    kind        text NOT NULL,
    details     jsonb NOT NULL DEFAULT '{}',
    created_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, period, kind)
);
