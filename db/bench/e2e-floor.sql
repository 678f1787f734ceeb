-- pgbench: the least PostgreSQL does for one event that fires one rule into
-- one webhook, in the shape SPEC fixes, run by one client with no other
-- process in the chain (so no process is woken between steps: a floor, not
-- a model). Per event:
--   1. ingest: the event row and its River job, one transaction, and the
--      NOTIFY River sends so a worker wakes;
--   2. the worker fetches the job with River's own JobGetAvailable;
--   3. processing: the match (lineage, SPEC §9), the delivery, the usage
--      counter and the event marked processed, one transaction;
--   4. (the webhook is sent here, outside the database)
--   5. the attempt recorded and the delivery marked, one transaction;
--   6. River completes the job.
-- One job per event: the delivery is sent by the processing job itself and
-- its retries are that job's (SignalOps inserts a second, notify.deliver,
-- job). No River insert of a second job, no rule or channel reads, no
-- template, no fair-queue bookkeeping: each of those only adds.
-- TENANT_ID, RULE_ID and CHANNEL_ID are replaced by the suite; run with
-- -M prepared, as SignalOps prepares its statements.
\set i random(1, 2000000000)
BEGIN;
SELECT (lpad(to_hex(floor(extract(epoch FROM clock_timestamp()) * 1000)::bigint), 12, '0') || substr(md5(random()::text), 1, 20))::uuid AS event_id \gset
INSERT INTO events (id, tenant_id, type, payload, occurred_at, received_at, retention_days)
VALUES (:event_id::uuid, 'TENANT_ID', 'bench.floor', jsonb_build_object('i', :i::int), now(), now(), 365);
INSERT INTO river_job (args, kind, max_attempts, queue, state, priority, scheduled_at)
VALUES (jsonb_build_object('tenant_id', 'TENANT_ID', 'event_id', :event_id::text), 'bench.floor', 10, 'floor', 'available', 1, now());
SELECT pg_notify('public.river_insert', '{"queue":"floor"}');
COMMIT;
WITH locked_jobs AS (
    SELECT id FROM river_job
    WHERE state = 'available' AND queue = 'floor' AND scheduled_at <= now()
    ORDER BY priority, scheduled_at, id
    LIMIT 1
    FOR UPDATE SKIP LOCKED
)
UPDATE river_job SET state = 'running', attempt = river_job.attempt + 1, attempted_at = now(),
    attempted_by = array_append(river_job.attempted_by, 'floor')
FROM locked_jobs WHERE river_job.id = locked_jobs.id
RETURNING river_job.id AS job_id \gset
BEGIN;
INSERT INTO rule_matches (id, tenant_id, event_id, rule_id, rule_version, group_key, fired, received_at, retention_days)
VALUES (gen_random_uuid(), 'TENANT_ID', :event_id::uuid, 'RULE_ID', 1, '', true, now(), 365);
INSERT INTO deliveries (id, tenant_id, event_id, rule_id, rule_version, channel_id, event_type, message, body, retention_days)
VALUES (gen_random_uuid(), 'TENANT_ID', :event_id::uuid, 'RULE_ID', 1, 'CHANNEL_ID', 'bench.floor', 'floor', jsonb_build_object('i', :i::int), 365)
RETURNING id AS delivery_id \gset
INSERT INTO usage_counters (tenant_id, period, day, metric, shard, count)
VALUES ('TENANT_ID', date_trunc('month', now())::date, extract(day FROM now())::smallint, 'events', 0, 1)
ON CONFLICT (tenant_id, period, metric, day, shard) DO UPDATE SET count = usage_counters.count + 1;
UPDATE events SET status = 'processed', processed_at = now() WHERE tenant_id = 'TENANT_ID' AND id = :event_id::uuid;
COMMIT;
BEGIN;
INSERT INTO delivery_attempts (id, delivery_id, tenant_id, attempt, succeeded, status_code, latency_ms)
VALUES (gen_random_uuid(), :delivery_id::uuid, 'TENANT_ID', 1, true, 204, 1);
UPDATE deliveries SET status = 'succeeded', attempts = 1, delivered_at = now(), updated_at = now() WHERE id = :delivery_id::uuid;
COMMIT;
UPDATE river_job SET state = 'completed', finalized_at = now() WHERE id = :job_id::bigint AND state = 'running';
