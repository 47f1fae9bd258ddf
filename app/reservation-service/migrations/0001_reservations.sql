-- Reservations: PENDING -> CONFIRMED -> CANCELLED, or PENDING -> CANCELLED.
CREATE TABLE reservations (
    id             UUID PRIMARY KEY,
    user_id        UUID NOT NULL,
    performance_id UUID NOT NULL,
    status         TEXT NOT NULL CHECK (status IN ('PENDING', 'CONFIRMED', 'CANCELLED')),
    created_at     TIMESTAMPTZ NOT NULL DEFAULT now(),
    expires_at     TIMESTAMPTZ NOT NULL
);
CREATE INDEX reservations_user ON reservations (user_id, created_at DESC);
