-- The OpenTelemetry trace id of the request that made the change (AuditEvent.trace_id), so that
-- an audit record links to its trace. '' for events from before, or made with tracing off.
ALTER TABLE audit_events ADD COLUMN trace_id text NOT NULL DEFAULT '';
