-- pgbench: what one ingested event costs PostgreSQL at least: the event row
-- and its River job row, one transaction (one commit) per event. The id is
-- time-ordered like a UUIDv7 (events are partitioned by id ranges of time).
\set i random(1, 2000000000)
BEGIN;
INSERT INTO events (id, tenant_id, type, payload, occurred_at, received_at, retention_days)
VALUES ((lpad(to_hex(floor(extract(epoch FROM clock_timestamp()) * 1000)::bigint), 12, '0') || substr(md5(random()::text), 1, 20))::uuid,
        'TENANT_ID', 'bench.pgbench', jsonb_build_object('i', :i), now(), now(), 365);
INSERT INTO river_job (args, kind, max_attempts, queue, state, priority, scheduled_at)
VALUES (jsonb_build_object('tenant_id', 'TENANT_ID', 'event_id', gen_random_uuid()), 'bench.pgbench', 10, 'bench', 'available', 1, now());
COMMIT;
