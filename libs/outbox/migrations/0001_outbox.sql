-- The transactional outbox: rows are added in the caller's transaction and published by the relay.
CREATE TABLE outbox (
    id bigserial PRIMARY KEY,               -- publication order
    event_id uuid NOT NULL UNIQUE,
    topic text NOT NULL,
    key bytea NOT NULL,
    payload bytea NOT NULL,
    headers jsonb NOT NULL DEFAULT '{}',
    created_at timestamptz NOT NULL DEFAULT now(),
    sent_at timestamptz
);
CREATE INDEX outbox_pending ON outbox (id) WHERE sent_at IS NULL;
CREATE INDEX outbox_sent ON outbox (sent_at) WHERE sent_at IS NOT NULL;
