-- One waiting-room admission, one order: the admission (the `qr_` token's
-- `jti`) that produced a hold is recorded on it, once.
ALTER TABLE reservations ADD COLUMN admission_id UUID;
CREATE UNIQUE INDEX reservations_admission_once ON reservations (admission_id);
-- The per-customer seat cap counts a user's open and confirmed seats.
CREATE INDEX reservations_user_performance ON reservations (user_id, performance_id);
