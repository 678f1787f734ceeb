-- Back to one unpartitioned events table with its partial unique index on
-- idempotency keys (0002).
SET LOCAL lock_timeout = '10s';
DO $$ BEGIN PERFORM pg_advisory_xact_lock(6000851118165414484); END $$;

DROP INDEX deliveries_expiry_idx;
ALTER TABLE deliveries DROP COLUMN retention_days;
DROP INDEX rule_matches_expiry_idx;
ALTER TABLE rule_matches DROP COLUMN retention_days;

ALTER TABLE events RENAME TO events_partitioned;
ALTER INDEX events_tenant_id_idx RENAME TO events_partitioned_tenant_id_idx;
ALTER INDEX events_tenant_type_idx RENAME TO events_partitioned_tenant_type_idx;
ALTER TABLE events_partitioned RENAME CONSTRAINT events_pkey TO events_partitioned_pkey;

CREATE TABLE events (
    id               uuid PRIMARY KEY,
    tenant_id        uuid NOT NULL CONSTRAINT events_tenant_id_fkey REFERENCES tenants (id) ON DELETE CASCADE,
    type             text NOT NULL,
    source           text,
    payload          jsonb NOT NULL,
    occurred_at      timestamptz NOT NULL,
    received_at      timestamptz NOT NULL,
    status           text NOT NULL DEFAULT 'accepted'
                     CONSTRAINT events_status_check CHECK (status IN ('accepted', 'processed', 'failed')),
    processed_at     timestamptz,
    idempotency_key  text,
    request_hash     bytea
);
INSERT INTO events (id, tenant_id, type, source, payload, occurred_at, received_at, status, processed_at,
                    idempotency_key, request_hash)
SELECT id, tenant_id, type, source, payload, occurred_at, received_at, status, processed_at,
       idempotency_key, request_hash
  FROM events_partitioned;
CREATE INDEX events_tenant_id_idx ON events (tenant_id, id DESC);
CREATE INDEX events_tenant_type_idx ON events (tenant_id, type, id DESC);
CREATE UNIQUE INDEX events_idempotency_key ON events (tenant_id, idempotency_key)
    WHERE idempotency_key IS NOT NULL;

DROP TABLE events_partitioned; -- with every partition
DROP TABLE event_idempotency;

-- Partitions the maintenance left detached (a crash between DETACH and DROP).
DO $$
DECLARE t text;
BEGIN
    FOR t IN SELECT c.relname FROM pg_class c
              WHERE c.relname ~ '^events_r[0-9]+(_p[0-9]{8})?$' AND c.relkind IN ('r', 'p')
                AND pg_table_is_visible(c.oid) LOOP
        EXECUTE format('DROP TABLE IF EXISTS %I', t);
    END LOOP;
END
$$;
