-- Who pays, what PortOne reported, and why a payment was refused.
ALTER TABLE payments
    ADD COLUMN user_id        UUID,
    ADD COLUMN currency       TEXT NOT NULL DEFAULT 'KRW',
    ADD COLUMN pg_provider    TEXT,
    ADD COLUMN failure_code   TEXT,
    ADD COLUMN failure_reason TEXT,
    ADD COLUMN refunded       BIGINT NOT NULL DEFAULT 0,
    ADD CONSTRAINT payments_status CHECK (status IN ('READY', 'PAID', 'FAILED', 'CANCELLED', 'REFUNDED'));
CREATE INDEX payments_reservation ON payments (reservation_id);
