-- Folds every day of a month back into its shards, then drops the column.
SET LOCAL lock_timeout = '2s';
CREATE TEMPORARY TABLE usage_by_shard ON COMMIT DROP AS
    SELECT tenant_id, period, metric, shard, sum(count)::bigint AS count
    FROM usage_counters GROUP BY tenant_id, period, metric, shard;
DELETE FROM usage_counters;
ALTER TABLE usage_counters DROP CONSTRAINT usage_counters_pkey;
ALTER TABLE usage_counters DROP COLUMN day;
ALTER TABLE usage_counters ADD PRIMARY KEY (tenant_id, period, metric, shard);
INSERT INTO usage_counters (tenant_id, period, metric, shard, count)
    SELECT tenant_id, period, metric, shard, count FROM usage_by_shard;
