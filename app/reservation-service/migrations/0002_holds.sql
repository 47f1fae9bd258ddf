-- Amounts, timestamps and reasons of reservations, and the seats each one
-- holds. The partial unique index is what makes a double booking impossible:
-- one active row per (performance, seat), whatever Redis says.
ALTER TABLE reservations
    ADD COLUMN amount        BIGINT NOT NULL DEFAULT 0 CHECK (amount >= 0),
    ADD COLUMN cancel_reason TEXT,
    ADD COLUMN imp_uid       TEXT,
    ADD COLUMN updated_at    TIMESTAMPTZ NOT NULL DEFAULT now();
CREATE INDEX reservations_pending_expiry ON reservations (expires_at) WHERE status = 'PENDING';

CREATE TABLE reservation_seats (
    reservation_id UUID NOT NULL REFERENCES reservations (id),
    performance_id UUID NOT NULL,
    seat_id        UUID NOT NULL,
    price          BIGINT NOT NULL CHECK (price > 0),
    active         BOOLEAN NOT NULL DEFAULT true,
    PRIMARY KEY (reservation_id, seat_id)
);
CREATE UNIQUE INDEX reservation_seats_taken ON reservation_seats (performance_id, seat_id) WHERE active;
