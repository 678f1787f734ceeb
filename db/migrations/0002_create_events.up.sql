-- Events: owned by modules/events. Ids are UUIDv7 made by the API, so the
-- primary key index grows at its right edge and id order is receive order.
CREATE TABLE events (
    id               uuid PRIMARY KEY,
    tenant_id        uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    type             text NOT NULL,
    source           text,
    payload          jsonb NOT NULL,
    occurred_at      timestamptz NOT NULL,
    received_at      timestamptz NOT NULL,
    status           text NOT NULL DEFAULT 'accepted' CHECK (status IN ('accepted', 'processed', 'failed')),
    processed_at     timestamptz,
    idempotency_key  text,
    request_hash     bytea
);
-- Listing a tenant's events newest first, optionally by type.
CREATE INDEX events_tenant_id_idx ON events (tenant_id, id DESC);
CREATE INDEX events_tenant_type_idx ON events (tenant_id, type, id DESC);
-- One event per idempotency key and tenant, kept as long as the event.
CREATE UNIQUE INDEX events_idempotency_key ON events (tenant_id, idempotency_key)
    WHERE idempotency_key IS NOT NULL;
