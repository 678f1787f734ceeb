-- pgbench: 100 events and 100 jobs per transaction, multi-row inserts (the
-- ceiling batch ingestion is held to).
BEGIN;
INSERT INTO events (id, tenant_id, type, payload, occurred_at, received_at, retention_days)
SELECT (lpad(to_hex(floor(extract(epoch FROM clock_timestamp()) * 1000)::bigint), 12, '0') || substr(md5(random()::text), 1, 20))::uuid,
       'TENANT_ID', 'bench.pgbench', jsonb_build_object('i', g), now(), now(), 365
FROM generate_series(1, 100) g;
INSERT INTO river_job (args, kind, max_attempts, queue, state, priority, scheduled_at)
SELECT jsonb_build_object('tenant_id', 'TENANT_ID', 'event_id', gen_random_uuid()), 'bench.pgbench', 10, 'bench', 'available', 1, now()
FROM generate_series(1, 100);
COMMIT;
