-- Rows whose payload is sensitive (an invitation's one-time secret) are blanked by the relay as
-- soon as Kafka acknowledged them, instead of lingering until the retention prunes them.
ALTER TABLE outbox ADD COLUMN erase_when_sent boolean NOT NULL DEFAULT false;
