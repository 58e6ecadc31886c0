-- Newest-first pages of one account narrowed by resource type or by principal come straight
-- out of these indexes (a rare type took ~100 ms at 10M events without them).
CREATE INDEX audit_events_account_type_time
    ON audit_events (account, resource_type, occurred_at DESC, event_id DESC);
CREATE INDEX audit_events_account_principal_time
    ON audit_events (account, principal_type, principal_id, occurred_at DESC, event_id DESC);
