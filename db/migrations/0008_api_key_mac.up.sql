-- The secret that signs API keys (auth.newKey): a key carries a MAC of its
-- random part, so a key that cannot exist is refused without a lookup.
-- Made here once, from PostgreSQL's strong random source, and never
-- rotated (every key issued since depends on it). Owned by modules/auth.
CREATE TABLE auth_secrets (
    name    text PRIMARY KEY,
    secret  bytea NOT NULL CHECK (length(secret) >= 16)
);
INSERT INTO auth_secrets (name, secret)
VALUES ('api_key_mac', decode(replace(gen_random_uuid()::text || gen_random_uuid()::text, '-', ''), 'hex'));
