-- Usage counters gain the UTC day of the month they were counted on, so a
-- month's events per day (the console's overview chart) are read from the
-- counters, never from the events table. Monthly totals still sum every
-- row of the period. Rows counted before this migration keep day 0: they
-- are in the month's total and in no day.
SET LOCAL lock_timeout = '2s';
ALTER TABLE usage_counters ADD COLUMN day smallint NOT NULL DEFAULT 0;
ALTER TABLE usage_counters DROP CONSTRAINT usage_counters_pkey;
ALTER TABLE usage_counters ADD PRIMARY KEY (tenant_id, period, metric, day, shard);
