DROP INDEX IF EXISTS events_tenant_source_idx;
