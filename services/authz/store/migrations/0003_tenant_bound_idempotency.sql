-- Idempotency records belong to a caller and an account: a request id reused by another caller,
-- or in another account, is a new request and never answers with someone else's response.
DROP TABLE idempotent_requests;
CREATE TABLE idempotent_requests (
    caller text NOT NULL,          -- the authenticated principal's subject, e.g. 'user:acme/alice'
    account text NOT NULL,         -- the account of the entity the request writes
    method text NOT NULL,
    request_id text NOT NULL,
    response bytea NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (caller, account, method, request_id)
);
CREATE INDEX idempotent_requests_created ON idempotent_requests (created_at);

-- Tokens of a principal, for revoking them all when the principal is deleted.
CREATE INDEX api_tokens_owner ON api_tokens (owner_kind, owner_scope, owner_identifier);
