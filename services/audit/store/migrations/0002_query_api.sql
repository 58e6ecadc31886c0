-- The query API: newest-first keyset pages per account, client networks, free text, saved filters.

CREATE INDEX audit_events_account_time ON audit_events (account, occurred_at DESC, event_id DESC);

-- Client IPs are stored as sent; a value that is not an address matches no network.
CREATE FUNCTION safe_inet(value text) RETURNS inet
LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE AS $$
BEGIN
    IF value = '' THEN
        RETURN NULL;
    END IF;
    RETURN value::inet;
EXCEPTION WHEN others THEN
    RETURN NULL;
END
$$;

CREATE EXTENSION IF NOT EXISTS pg_trgm;
CREATE INDEX audit_events_resource_id_trgm ON audit_events USING gin (resource_id gin_trgm_ops);
CREATE INDEX audit_events_principal_email_trgm ON audit_events USING gin (principal_email gin_trgm_ops);

CREATE TABLE audit_saved_filters (
    id uuid PRIMARY KEY,
    scope text NOT NULL,
    owner text NOT NULL,          -- the principal that created it, e.g. "USER:acct/alice"
    name text NOT NULL,
    visibility text NOT NULL,     -- ONLY_ME | EVERYONE
    filter bytea NOT NULL,        -- a serialized audit.v1.EventFilter
    etag bigint NOT NULL DEFAULT 1,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    UNIQUE (scope, owner, name)
);
