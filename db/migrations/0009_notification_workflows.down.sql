SET LOCAL lock_timeout = '10s';
DROP TABLE rule_digest_items;
DROP TABLE rule_digests;
ALTER TABLE deliveries DROP COLUMN chain_errors, DROP COLUMN replaced_by, DROP COLUMN fallback_of, DROP COLUMN fallback;
ALTER TABLE rule_matches DROP COLUMN reason;
