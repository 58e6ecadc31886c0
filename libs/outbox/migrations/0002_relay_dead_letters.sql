-- A row Kafka refuses for good (larger than the broker's limit, an invalid topic) is set aside
-- with the reason, so that the rows after it are published; it is kept until an operator acts.
ALTER TABLE outbox ADD COLUMN dead_at timestamptz, ADD COLUMN dead_reason text;
DROP INDEX outbox_pending;
CREATE INDEX outbox_pending ON outbox (id) WHERE sent_at IS NULL AND dead_at IS NULL;
CREATE INDEX outbox_dead ON outbox (id) WHERE dead_at IS NOT NULL;
