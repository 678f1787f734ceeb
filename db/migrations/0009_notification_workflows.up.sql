-- Lineage, fallback chains and digests (SPEC §9, §10; docs/rules.md).
-- Every added column is nullable or has a constant default, so the ALTERs
-- on the hot tables change the catalog only (no rewrite).
SET LOCAL lock_timeout = '10s';

-- Why a match did not fire ("threshold 2 of 3 within 1m", "cooldown until
-- <t>", "collected into digest <deliveryId>"); NULL when it fired at once.
ALTER TABLE rule_matches ADD COLUMN reason text;

-- Fallback chains, owned by notify (rules never reads them back): a
-- delivery carries the channels still to try after its own, the delivery
-- it replaced, the one that replaced it, and the errors of the chain so
-- far (reported with the last delivery's error when the chain is spent).
ALTER TABLE deliveries
    ADD COLUMN fallback      jsonb,  -- ["<channel id>", …] still to try, in order; NULL: none
    ADD COLUMN fallback_of   uuid,   -- the delivery this one replaced
    ADD COLUMN replaced_by   uuid,   -- the delivery that took over from this one
    ADD COLUMN chain_errors  jsonb;  -- [{"deliveryId","channelId","error"}, …] of the deliveries before this one

-- Digests, owned by rules: firings of a digest action are collected per
-- rule version, action and group from the first one for `window`, or
-- until `max` are collected; then the rules.digest job turns the digest
-- into ONE delivery (delivery_id, chosen when the digest opens, so a
-- collected match can name it). At most one digest per key is open.
CREATE TABLE rule_digests (
    id              uuid PRIMARY KEY,
    tenant_id       uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    rule_id         uuid NOT NULL REFERENCES rules (id) ON DELETE CASCADE,
    rule_version    integer NOT NULL,
    action_index    smallint NOT NULL,
    group_key       text NOT NULL,
    delivery_id     uuid NOT NULL,
    state           text NOT NULL DEFAULT 'open' CHECK (state IN ('open', 'full', 'flushed')),
    count           integer NOT NULL DEFAULT 0,
    max             integer NOT NULL,
    opened_at       timestamptz NOT NULL,
    closes_at       timestamptz NOT NULL,
    flushed_at      timestamptz,
    -- The first collected event's: the digest's delivery is deleted with it.
    retention_days  smallint NOT NULL
);
CREATE UNIQUE INDEX rule_digests_open_idx ON rule_digests (rule_id, rule_version, action_index, group_key)
    WHERE state = 'open';
CREATE INDEX rule_digests_tenant_idx ON rule_digests (tenant_id);

-- The events of a digest, as its template and webhook body see them. The
-- unique constraint is the exactly-once rule: an event is collected into
-- one digest per rule action, whatever crashes and retries happen.
CREATE TABLE rule_digest_items (
    digest_id       uuid NOT NULL REFERENCES rule_digests (id) ON DELETE CASCADE,
    tenant_id       uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    rule_id         uuid NOT NULL,
    action_index    smallint NOT NULL,
    event_id        uuid NOT NULL,
    received_at     timestamptz NOT NULL,
    event           jsonb NOT NULL, -- {"id","type","source","occurredAt","payload"}
    retention_days  smallint NOT NULL,
    PRIMARY KEY (digest_id, event_id),
    CONSTRAINT rule_digest_items_once UNIQUE (event_id, rule_id, action_index)
);
CREATE INDEX rule_digest_items_expiry_idx ON rule_digest_items (retention_days, event_id);
