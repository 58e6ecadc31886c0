-- authz schema, version 1.

-- One counter; every write increments it in its own transaction (writes serialize on this row).
CREATE TABLE policy_revision (
    singleton boolean PRIMARY KEY DEFAULT true CHECK (singleton),
    revision bigint NOT NULL
);
INSERT INTO policy_revision VALUES (true, 0);

-- Management data: one row per entity, the body is the domain object as JSON.
CREATE TABLE entities (
    kind text NOT NULL,            -- user, user_group, service_account, role, resource_group, role_binding, permission
    scope text NOT NULL,           -- scope path, e.g. 'acct/org/proj'
    identifier text NOT NULL,
    body jsonb NOT NULL,
    etag bigint NOT NULL,          -- the policy revision of the entity's last write
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (kind, scope, identifier)
);
-- Which bindings use a role, a resource group, a principal (for refusing or cascading deletes).
CREATE INDEX entities_binding_role ON entities ((body->>'role_scope'), (body->>'role'))
    WHERE kind = 'role_binding';
CREATE INDEX entities_binding_resource_group ON entities (scope, (body->>'resource_group'))
    WHERE kind = 'role_binding';
CREATE INDEX entities_binding_principal ON entities ((body->'principal'->>'identifier'))
    WHERE kind = 'role_binding';

-- The Casbin policy, derived from the entities in the same transaction as their write.
CREATE TABLE casbin_rule (
    id bigserial PRIMARY KEY,
    ptype text NOT NULL,
    v0 text NOT NULL DEFAULT '',
    v1 text NOT NULL DEFAULT '',
    v2 text NOT NULL DEFAULT '',
    v3 text NOT NULL DEFAULT '',
    v4 text NOT NULL DEFAULT '',
    v5 text NOT NULL DEFAULT '',
    v6 text NOT NULL DEFAULT '',
    source text NOT NULL DEFAULT '',   -- the entity the line comes from, e.g. 'role_binding:acct/org/proj/b1'
    UNIQUE (ptype, v0, v1, v2, v3, v4, v5, v6)
);
CREATE INDEX casbin_rule_source ON casbin_rule (source);

-- What each revision added and removed, so that replicas catch up incrementally.
CREATE TABLE policy_log (
    revision bigint PRIMARY KEY,
    added jsonb NOT NULL,      -- list of lines, each [ptype, v0, ...]
    removed jsonb NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);

-- Create calls with a request id answer a retry with the first call's response.
CREATE TABLE idempotent_requests (
    request_id text NOT NULL,
    method text NOT NULL,
    response bytea NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (method, request_id)
);
