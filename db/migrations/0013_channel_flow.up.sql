-- Flow control per channel (SPEC §8; docs/channels.md "Flow control"),
-- owned by notify: the circuit breaker, the schedule of the channel's rate
-- cap, and the pause a receiver asked for (429 + Retry-After). A channel
-- without a row is closed, unpaused and has reserved no rate slot.
SET LOCAL lock_timeout = '10s';

CREATE TABLE channel_flow (
    channel_id            uuid PRIMARY KEY REFERENCES channels (id) ON DELETE CASCADE,
    tenant_id             uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    state                 text NOT NULL DEFAULT 'closed' CHECK (state IN ('closed', 'open', 'half_open')),
    -- Transient failures (timeouts, 5xx, refused connections) since the last success.
    consecutive_failures  integer NOT NULL DEFAULT 0,
    last_error            text,
    opened_at             timestamptz,
    -- When the next probe may go out, and the interval that led there
    -- (CHANNEL_BREAKER_PROBE, doubling after each failed probe up to
    -- CHANNEL_BREAKER_PROBE_MAX).
    next_probe_at         timestamptz,
    probe_interval_ms     bigint NOT NULL DEFAULT 0,
    -- The one delivery probing (half_open), claimed by an UPDATE of this row.
    probe_delivery_id     uuid,
    probe_started_at      timestamptz,
    -- A receiver's 429 Retry-After: no delivery of the channel starts before.
    paused_until          timestamptz,
    -- Rate cap: the next free send slot (config.rateLimit.perSecond).
    next_slot_at          timestamptz,
    updated_at            timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX channel_flow_tenant_idx ON channel_flow (tenant_id);

-- The rate-cap slot a waiting delivery reserved: it sends at that time
-- without reserving again. Nullable, no default: a catalog-only change.
ALTER TABLE deliveries ADD COLUMN slot_at timestamptz;
