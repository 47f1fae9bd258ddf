-- Notices to customers ("bookings are delayed", "payments are paused"),
-- posted and ended by operators (opsctl notice, the runbooks).
CREATE TABLE notices (
    id          uuid PRIMARY KEY,
    -- The catalog template it came from (booking-delay, payment-paused), if any.
    template    text CHECK (template IS NULL OR length(template) BETWEEN 1 AND 64),
    severity    text NOT NULL CHECK (severity IN ('info', 'warning', 'critical')),
    message_ko  text NOT NULL CHECK (length(message_ko) BETWEEN 1 AND 500),
    message_en  text NOT NULL CHECK (length(message_en) BETWEEN 1 AND 500),
    flows       text[] NOT NULL CHECK (cardinality(flows) > 0 AND flows <@ ARRAY['booking', 'payment']),
    starts_at   timestamptz NOT NULL,
    ends_at     timestamptz CHECK (ends_at IS NULL OR ends_at > starts_at),
    created_by  uuid NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    ended_at    timestamptz,
    ended_by    uuid
);

CREATE INDEX notices_open ON notices (starts_at) WHERE ended_at IS NULL;
