-- Invitations: one per invited user. Its one-time secret is kept only as a SHA-256; the prefix
-- names the current secret (a resend replaces both, so the old secret finds nothing).
-- Deleting the user deletes its invitation (the foreign key), in the same transaction.
CREATE TABLE invitations (
    account text NOT NULL,
    user_identifier text NOT NULL,
    user_kind text NOT NULL DEFAULT 'user' CHECK (user_kind = 'user'),
    prefix text NOT NULL UNIQUE,
    secret_hash bytea NOT NULL,
    email text NOT NULL,
    display_name text NOT NULL DEFAULT '',
    user_groups jsonb NOT NULL DEFAULT '[]',   -- [[scope, identifier], ...]
    inviter jsonb NOT NULL,                    -- {type, identifier, scope, email}
    sends integer NOT NULL DEFAULT 1,
    created_at timestamptz NOT NULL,
    expires_at timestamptz NOT NULL,
    accepted_at timestamptz,
    revoked_at timestamptz,
    expired_at timestamptz,                    -- when the expiry was recorded (and audited)
    PRIMARY KEY (account, user_identifier),
    FOREIGN KEY (user_kind, account, user_identifier)
        REFERENCES entities (kind, scope, identifier) ON DELETE CASCADE
);
-- The expiry sweep: open invitations whose expiry is not recorded yet, by expiry.
CREATE INDEX invitations_due ON invitations (expires_at)
    WHERE accepted_at IS NULL AND revoked_at IS NULL AND expired_at IS NULL;

-- Users existing before invitations are active.
UPDATE entities SET body = body || '{"state": "ACTIVE"}'::jsonb
    WHERE kind = 'user' AND NOT body ? 'state';
