-- Events partitioned for retention per plan (docs/storage.md):
--
--   events                    PARTITION BY LIST (retention_days)
--     events_r30              PARTITION BY RANGE (id)   -- free
--       events_r30_p20261123  FOR VALUES FROM (<uuid of 2026-11-23>) TO (<+1 week>)
--     events_r90  …           -- pro: 2-week partitions
--     events_r365 …           -- enterprise: 4-week partitions
--
-- Ids are UUIDv7, so a range of ids is a range of receive times: the uuid
-- whose 48-bit millisecond prefix is a Monday 00:00 UTC and whose other
-- bits are zero is a partition bound. The primary key must hold both
-- partition keys: (id, retention_days). A partition [lo, hi) of class R is
-- dropped whole once hi + R days has passed (events.Service.Maintain).
--
-- There is no DEFAULT partition: on the range level it stops PostgreSQL
-- from reading partitions in id order (a Merge Append over every partition
-- instead of an ordered Append) and forbids DETACH … CONCURRENTLY. This
-- migration creates partitions 4 weeks ahead; the events.partitions job
-- keeps them 4 weeks ahead; an insert that finds no partition creates it
-- and retries.
--
-- Idempotency keys move to event_idempotency: a unique index on events
-- could only be unique per partition.
SET LOCAL lock_timeout = '10s';
-- The lock events.Service takes to create partitions (key "SGNLPART").
DO $$ BEGIN PERFORM pg_advisory_xact_lock(6000851118165414484); END $$;

ALTER TABLE events RENAME TO events_unpartitioned;

CREATE TABLE events (
    id               uuid NOT NULL,
    tenant_id        uuid NOT NULL,
    type             text NOT NULL,
    source           text,
    payload          jsonb NOT NULL,
    occurred_at      timestamptz NOT NULL,
    received_at      timestamptz NOT NULL,
    status           text NOT NULL DEFAULT 'accepted'
                     CONSTRAINT events_status_check CHECK (status IN ('accepted', 'processed', 'failed')),
    processed_at     timestamptz,
    idempotency_key  text,
    request_hash     bytea,
    -- The tenant's plan's retention when the event was received.
    retention_days   smallint NOT NULL
) PARTITION BY LIST (retention_days);

-- One branch per plan retention (billing.Retention*), each cut into ranges
-- of ids: 1 week for 30 days, 2 weeks for 90, 4 weeks for 365 (weeks =
-- clamp(days / 42, 1, 4), events.partitionSpan), aligned on Monday
-- 1970-01-05 00:00 UTC. From the oldest stored event to 4 weeks ahead.
DO $$
DECLARE
    epoch_ms  constant bigint := 345600000; -- 1970-01-05T00:00:00Z
    week_ms   constant bigint := 7 * 86400000;
    now_ms    constant bigint := floor(extract(epoch FROM now()) * 1000);
    ahead_ms  constant bigint := 28 * 86400000::bigint;
    r         int;
    span_ms   bigint;
    from_ms   bigint;
    lo_ms     bigint;
    made      int;
BEGIN
    FOREACH r IN ARRAY ARRAY[30, 90, 365] LOOP
        EXECUTE format('CREATE TABLE %I PARTITION OF events FOR VALUES IN (%s) PARTITION BY RANGE (id)', 'events_r' || r, r);
        span_ms := greatest(1, least(4, r / 42)) * week_ms;
        SELECT least(now_ms, min(('x' || substr(replace(e.id::text, '-', ''), 1, 12))::bit(48)::bigint))
          INTO from_ms
          FROM events_unpartitioned e JOIN tenants t ON t.id = e.tenant_id
         WHERE CASE t.plan WHEN 'free' THEN 30 WHEN 'pro' THEN 90 ELSE 365 END = r;
        from_ms := coalesce(from_ms, now_ms);
        lo_ms := epoch_ms + floor((from_ms - epoch_ms)::numeric / span_ms)::bigint * span_ms;
        made := 0;
        WHILE lo_ms <= now_ms + ahead_ms LOOP
            made := made + 1;
            IF made > 5000 THEN
                RAISE EXCEPTION 'events: events of class % span more than 5000 partitions: ids that are not UUIDv7?', r;
            END IF;
            EXECUTE format('CREATE TABLE %I PARTITION OF %I FOR VALUES FROM (%L) TO (%L)',
                'events_r' || r || '_p' || to_char(to_timestamp(lo_ms / 1000.0) AT TIME ZONE 'UTC', 'YYYYMMDD'),
                'events_r' || r,
                (lpad(to_hex(lo_ms), 12, '0') || repeat('0', 20))::uuid,
                (lpad(to_hex(lo_ms + span_ms), 12, '0') || repeat('0', 20))::uuid);
            lo_ms := lo_ms + span_ms;
        END LOOP;
    END LOOP;
END
$$;

-- Existing events get their tenant's current plan's retention.
INSERT INTO events (id, tenant_id, type, source, payload, occurred_at, received_at, status, processed_at,
                    idempotency_key, request_hash, retention_days)
SELECT e.id, e.tenant_id, e.type, e.source, e.payload, e.occurred_at, e.received_at, e.status, e.processed_at,
       e.idempotency_key, e.request_hash, CASE t.plan WHEN 'free' THEN 30 WHEN 'pro' THEN 90 ELSE 365 END
  FROM events_unpartitioned e JOIN tenants t ON t.id = e.tenant_id;

DROP TABLE events_unpartitioned;

-- Indexes and constraints after the copy: built once per partition.
ALTER TABLE events ADD PRIMARY KEY (id, retention_days);
ALTER TABLE events ADD CONSTRAINT events_tenant_id_fkey FOREIGN KEY (tenant_id) REFERENCES tenants (id) ON DELETE CASCADE;
-- Listing a tenant's events newest first, optionally by type.
CREATE INDEX events_tenant_id_idx ON events (tenant_id, id DESC);
CREATE INDEX events_tenant_type_idx ON events (tenant_id, type, id DESC);

-- One event per idempotency key and tenant, kept as long as the event: the
-- maintenance job deletes a key when the partition of its event is dropped.
CREATE TABLE event_idempotency (
    tenant_id        uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    idempotency_key  text NOT NULL,
    event_id         uuid NOT NULL,
    request_hash     bytea NOT NULL,
    retention_days   smallint NOT NULL,
    created_at       timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, idempotency_key)
);
-- Expiry: the keys of one retention class below a cutoff id.
CREATE INDEX event_idempotency_expiry_idx ON event_idempotency (retention_days, event_id);
INSERT INTO event_idempotency (tenant_id, idempotency_key, event_id, request_hash, retention_days, created_at)
SELECT tenant_id, idempotency_key, id, request_hash, retention_days, received_at
  FROM events WHERE idempotency_key IS NOT NULL;

-- Matches and deliveries live as long as their event: they carry its
-- retention, and rules and notify delete them below the same cutoff.
ALTER TABLE rule_matches ADD COLUMN retention_days smallint;
UPDATE rule_matches m SET retention_days = CASE t.plan WHEN 'free' THEN 30 WHEN 'pro' THEN 90 ELSE 365 END
  FROM tenants t WHERE t.id = m.tenant_id;
ALTER TABLE rule_matches ALTER COLUMN retention_days SET NOT NULL;
CREATE INDEX rule_matches_expiry_idx ON rule_matches (retention_days, event_id);

ALTER TABLE deliveries ADD COLUMN retention_days smallint;
UPDATE deliveries d SET retention_days = CASE t.plan WHEN 'free' THEN 30 WHEN 'pro' THEN 90 ELSE 365 END
  FROM tenants t WHERE t.id = d.tenant_id;
ALTER TABLE deliveries ALTER COLUMN retention_days SET NOT NULL;
CREATE INDEX deliveries_expiry_idx ON deliveries (retention_days, event_id);
