-- Listing a tenant's events of one source (GET /api/events?source=, the
-- console's filter and live tail) reads this index instead of scanning the
-- tenant's events: a rare source took 280 ms with 100,000 events without
-- it. Partial: events without a source are never looked up by it. Built on
-- every partition (and inherited by new ones); on a large existing table,
-- build it per partition CONCURRENTLY before upgrading (docs/storage.md).
SET LOCAL lock_timeout = '10s';
CREATE INDEX IF NOT EXISTS events_tenant_source_idx ON events (tenant_id, source, id DESC) WHERE source IS NOT NULL;
