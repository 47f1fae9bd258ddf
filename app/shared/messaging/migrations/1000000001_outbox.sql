-- Transactional outbox and consumer bookkeeping, in every service schema
-- that publishes or consumes events (versions from 1000000001 on, apart from
-- the service's own migrations).

-- Events written in the same transaction as the state change they describe.
CREATE TABLE outbox (
    id             BIGSERIAL PRIMARY KEY,           -- relay order
    event_id       UUID NOT NULL UNIQUE,
    topic          TEXT NOT NULL,                   -- logical topic (catalog name)
    partition_key  TEXT NOT NULL,                   -- the aggregate id
    event_type     TEXT NOT NULL,
    envelope       JSONB NOT NULL,
    created_at     TIMESTAMPTZ NOT NULL DEFAULT clock_timestamp(),
    sent_at        TIMESTAMPTZ,
    attempts       INTEGER NOT NULL DEFAULT 0,
    last_error     TEXT
);
CREATE INDEX outbox_unsent ON outbox (id) WHERE sent_at IS NULL;
CREATE INDEX outbox_unsent_key ON outbox (partition_key, id) WHERE sent_at IS NULL;
CREATE INDEX outbox_created_at ON outbox (created_at);
CREATE INDEX outbox_sent_at ON outbox (sent_at) WHERE sent_at IS NOT NULL;

-- Wake relays as soon as a transaction that wrote events commits.
CREATE FUNCTION outbox_notify() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('outbox_' || TG_TABLE_SCHEMA, '');
    RETURN NULL;
END;
$$;
CREATE TRIGGER outbox_notify AFTER INSERT ON outbox
    FOR EACH STATEMENT EXECUTE FUNCTION outbox_notify();

-- Idempotent consumers: one row per (group, event) applied, written in the
-- same transaction as the consumer's side effects.
CREATE TABLE processed_events (
    consumer_group TEXT NOT NULL,
    event_id       UUID NOT NULL,
    processed_at   TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (consumer_group, event_id)
);
