-- Channels, deliveries and their attempts: owned by modules/notify.
CREATE TABLE channels (
    id          uuid PRIMARY KEY,
    tenant_id   uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    name        text NOT NULL,
    kind        text NOT NULL CHECK (kind IN ('email', 'telegram', 'whatsapp', 'webhook')),
    config      jsonb NOT NULL,
    -- secretbox-sealed JSON (AES-256-GCM, key id inside); never returned.
    secrets     text NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now(),
    deleted_at  timestamptz
);
CREATE INDEX channels_tenant_idx ON channels (tenant_id, id DESC) WHERE deleted_at IS NULL;

CREATE TABLE deliveries (
    id                   uuid PRIMARY KEY,
    tenant_id            uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    event_id             uuid NOT NULL,
    rule_id              uuid,
    rule_version         integer,
    channel_id           uuid NOT NULL REFERENCES channels (id),
    event_type           text NOT NULL,
    message              text NOT NULL,
    -- The webhook body, built once so every retry sends the same bytes.
    body                 jsonb NOT NULL,
    status               text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'succeeded', 'failed')),
    attempts             integer NOT NULL DEFAULT 0,
    last_error           text,
    provider_message_id  text,
    job_id               bigint,
    created_at           timestamptz NOT NULL DEFAULT now(),
    updated_at           timestamptz NOT NULL DEFAULT now(),
    delivered_at         timestamptz
);
CREATE INDEX deliveries_tenant_idx ON deliveries (tenant_id, id DESC);
CREATE INDEX deliveries_event_idx ON deliveries (tenant_id, event_id);

CREATE TABLE delivery_attempts (
    id                   uuid PRIMARY KEY,
    delivery_id          uuid NOT NULL REFERENCES deliveries (id) ON DELETE CASCADE,
    tenant_id            uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    attempt              integer NOT NULL,
    succeeded            boolean NOT NULL,
    status_code          integer,
    latency_ms           integer NOT NULL,
    error                text,
    response             text,
    provider_message_id  text,
    created_at           timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX delivery_attempts_delivery_idx ON delivery_attempts (delivery_id, attempt);
