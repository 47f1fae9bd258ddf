-- Payments as PortOne reports them, one row per merchant_uid.
CREATE TABLE payments (
    merchant_uid   TEXT PRIMARY KEY,
    reservation_id UUID NOT NULL,
    imp_uid        TEXT UNIQUE,
    amount         BIGINT NOT NULL CHECK (amount > 0),
    status         TEXT NOT NULL,
    created_at     TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at     TIMESTAMPTZ NOT NULL DEFAULT now()
);
