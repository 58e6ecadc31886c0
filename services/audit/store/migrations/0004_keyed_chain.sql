-- The keyed chain: which key made each link, and a signed head per account. Rows written before
-- this migration keep key id '' (plain SHA-256) and no longer verify: they were never anchored.
ALTER TABLE audit_events ADD COLUMN chain_key_id text NOT NULL DEFAULT '';
ALTER TABLE audit_chain_heads
    ADD COLUMN key_id text NOT NULL DEFAULT '',
    ADD COLUMN mac bytea NOT NULL DEFAULT '\x';
