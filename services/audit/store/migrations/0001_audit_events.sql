-- The audit store, version 1.

CREATE TABLE audit_events (
    event_id uuid NOT NULL,
    occurred_at timestamptz NOT NULL,
    account text NOT NULL,
    organization text NOT NULL,
    project text NOT NULL,
    module text NOT NULL,
    principal_type text NOT NULL,
    principal_id text NOT NULL,
    principal_email text NOT NULL,
    action text NOT NULL,
    resource_type text NOT NULL,
    resource_id text NOT NULL,
    resource_labels jsonb NOT NULL,
    client_ip text NOT NULL,
    user_agent text NOT NULL,
    request_id text NOT NULL,
    old_state jsonb,
    new_state jsonb,
    policy_revision bigint NOT NULL,
    schema_version integer NOT NULL,
    -- The per-account hash chain, in projection order.
    chain_seq bigint NOT NULL,
    prev_hash bytea NOT NULL,
    hash bytea NOT NULL,
    projected_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (event_id, occurred_at)
) PARTITION BY RANGE (occurred_at);

-- Events outside every monthly partition (far past or future) still land.
CREATE TABLE audit_events_default PARTITION OF audit_events DEFAULT;

-- For the query API: scope + time, principal + time, resource type + time, action.
CREATE INDEX audit_events_scope_time
    ON audit_events (account, organization, project, occurred_at DESC, event_id DESC);
CREATE INDEX audit_events_principal_time
    ON audit_events (principal_type, principal_id, occurred_at DESC);
CREATE INDEX audit_events_resource_type_time ON audit_events (resource_type, occurred_at DESC);
CREATE INDEX audit_events_action_time ON audit_events (action, occurred_at DESC);
-- For chain verification.
CREATE INDEX audit_events_chain ON audit_events (account, chain_seq);

CREATE TABLE audit_chain_heads (
    account text PRIMARY KEY,
    seq bigint NOT NULL,
    hash bytea NOT NULL
);

CREATE TABLE audit_dead_letters (
    id bigserial PRIMARY KEY,
    topic text NOT NULL,
    kafka_partition integer NOT NULL,
    kafka_offset bigint NOT NULL,
    key bytea,
    payload bytea NOT NULL,
    reason text NOT NULL,
    received_at timestamptz NOT NULL DEFAULT now(),
    UNIQUE (topic, kafka_partition, kafka_offset)
);
