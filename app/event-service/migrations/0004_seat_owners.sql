-- The newest reservation that ever held a seat. Reservation ids are UUIDv7
-- (time-ordered): a seat is held by a new reservation only after the
-- previous one let it go, so the newest id is its owner, whatever order
-- the two reservations' events arrive in (they are keyed by reservation,
-- so Kafka orders each reservation's events, not the two against each
-- other).
ALTER TABLE seats ADD COLUMN last_reservation_id UUID;
UPDATE seats SET last_reservation_id = reservation_id;
