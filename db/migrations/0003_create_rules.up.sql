-- Rules, their immutable versions, matches and per-group firing state:
-- owned by modules/rules. Rows reference users and events by id only (no
-- cross-module foreign keys besides tenants).
CREATE TABLE rules (
    id          uuid PRIMARY KEY,
    tenant_id   uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    name        text NOT NULL,
    enabled     boolean NOT NULL DEFAULT true,
    version     integer NOT NULL CHECK (version >= 1),
    created_at  timestamptz NOT NULL DEFAULT now(),
    created_by  uuid,
    updated_at  timestamptz NOT NULL DEFAULT now(),
    updated_by  uuid,
    deleted_at  timestamptz,
    deleted_by  uuid
);
CREATE INDEX rules_tenant_idx ON rules (tenant_id, id DESC) WHERE deleted_at IS NULL;

CREATE TABLE rule_versions (
    rule_id     uuid NOT NULL REFERENCES rules (id) ON DELETE CASCADE,
    version     integer NOT NULL,
    tenant_id   uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    definition  jsonb NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    created_by  uuid,
    PRIMARY KEY (rule_id, version)
);

-- One row per (event, rule) that matched; fired tells whether thresholds and
-- cooldowns let it act. Processing an event twice cannot record it twice.
CREATE TABLE rule_matches (
    id            uuid PRIMARY KEY,
    tenant_id     uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    event_id      uuid NOT NULL,
    rule_id       uuid NOT NULL REFERENCES rules (id) ON DELETE CASCADE,
    rule_version  integer NOT NULL,
    group_key     text NOT NULL,
    fired         boolean NOT NULL,
    received_at   timestamptz NOT NULL,
    actions       jsonb NOT NULL DEFAULT '[]',
    created_at    timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT rule_matches_once UNIQUE (event_id, rule_id)
);
CREATE INDEX rule_matches_event_idx ON rule_matches (tenant_id, event_id);
CREATE INDEX rule_matches_window_idx ON rule_matches (rule_id, group_key, received_at);

-- Threshold/cooldown state per rule and group. Its row lock serialises the
-- decisions of one group, so two concurrent events can neither both fire
-- nor both be missed.
CREATE TABLE rule_groups (
    rule_id        uuid NOT NULL REFERENCES rules (id) ON DELETE CASCADE,
    group_key      text NOT NULL,
    tenant_id      uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    last_fired_at  timestamptz,
    PRIMARY KEY (rule_id, group_key)
);
