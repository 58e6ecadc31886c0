-- API key tokens: only a hash of each secret is kept; the prefix finds the row.
CREATE TABLE api_tokens (
    prefix text PRIMARY KEY,
    key_scope text NOT NULL,
    key_identifier text NOT NULL,
    owner_kind text NOT NULL,        -- user | service_account
    owner_scope text NOT NULL,
    owner_identifier text NOT NULL,
    secret_hash bytea NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    expires_at timestamptz,
    revoked_at timestamptz
);
CREATE INDEX api_tokens_key ON api_tokens (key_scope, key_identifier);
