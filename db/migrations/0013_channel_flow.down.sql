SET LOCAL lock_timeout = '10s';
ALTER TABLE deliveries DROP COLUMN slot_at;
DROP TABLE channel_flow;
