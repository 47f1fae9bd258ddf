-- Seats of a performance with their price and sale state. The state follows
-- reservation events (HELD on ReservationCreated, SOLD on
-- ReservationConfirmed, AVAILABLE again on cancellation, expiry or release);
-- the reservation service's own constraints are what prevent double booking.
CREATE TABLE seats (
    id             UUID PRIMARY KEY,
    performance_id UUID NOT NULL REFERENCES performances (id) ON DELETE CASCADE,
    section        TEXT NOT NULL CHECK (length(section) BETWEEN 1 AND 50),
    row_label      TEXT NOT NULL CHECK (length(row_label) BETWEEN 1 AND 10),
    number         INTEGER NOT NULL CHECK (number > 0),
    price          BIGINT NOT NULL CHECK (price > 0),
    status         TEXT NOT NULL DEFAULT 'AVAILABLE' CHECK (status IN ('AVAILABLE', 'HELD', 'SOLD')),
    reservation_id UUID,
    updated_at     TIMESTAMPTZ NOT NULL DEFAULT now(),
    UNIQUE (performance_id, section, row_label, number)
);
CREATE INDEX seats_performance ON seats (performance_id);
CREATE INDEX seats_reservation ON seats (reservation_id) WHERE reservation_id IS NOT NULL;
