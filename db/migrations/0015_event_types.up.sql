-- The tenant's catalog of event types (SPEC §11; docs/api.md "Event
-- types"), owned by events. A type's content lives in immutable versions;
-- event_types points at the current one (like rules and rule_versions).
-- Retiring a type (DELETE) sets deleted_at and keeps its versions: a later
-- PUT brings it back as the next version.
CREATE TABLE event_types (
    tenant_id   uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    type        text NOT NULL,
    version     integer NOT NULL CHECK (version >= 1),
    created_at  timestamptz NOT NULL DEFAULT now(),
    created_by  uuid,
    updated_at  timestamptz NOT NULL DEFAULT now(),
    updated_by  uuid,
    deleted_at  timestamptz,
    deleted_by  uuid,
    PRIMARY KEY (tenant_id, type)
);

CREATE TABLE event_type_versions (
    tenant_id    uuid NOT NULL,
    type         text NOT NULL,
    version      integer NOT NULL,
    description  text NOT NULL,
    -- A JSON Schema 2020-12 the payloads are validated against; NULL: none.
    schema       jsonb,
    created_at   timestamptz NOT NULL DEFAULT now(),
    created_by   uuid,
    PRIMARY KEY (tenant_id, type, version),
    FOREIGN KEY (tenant_id, type) REFERENCES event_types (tenant_id, type) ON DELETE CASCADE
);

-- One row per tenant with a catalog: version counts the catalog's changes.
-- Every change bumps it in its transaction (the row lock serialises a
-- tenant's catalog changes), and each process compares it once a second
-- per ingesting tenant to learn whether its cached view is stale: one
-- primary-key read, whatever the catalog's size.
CREATE TABLE event_type_catalogs (
    tenant_id  uuid PRIMARY KEY REFERENCES tenants (id) ON DELETE CASCADE,
    version    bigint NOT NULL
);
