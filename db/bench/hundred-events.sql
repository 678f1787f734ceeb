-- pgbench: 100 events and 100 jobs per transaction, multi-row inserts (the
-- ceiling batch ingestion is held to).
BEGIN;
INSERT INTO events (id, tenant_id, type, payload, occurred_at, received_at)
SELECT gen_random_uuid(), 'TENANT_ID', 'bench.pgbench', jsonb_build_object('i', g), now(), now() FROM generate_series(1, 100) g;
INSERT INTO river_job (args, kind, max_attempts, queue, state, priority, scheduled_at)
SELECT jsonb_build_object('tenant_id', 'TENANT_ID', 'event_id', gen_random_uuid()), 'bench.pgbench', 10, 'bench', 'available', 1, now()
FROM generate_series(1, 100);
COMMIT;
