-- Every reservation token issued by the admission loop, for audit and for
-- counting admissions per performance. The token itself is verified by its
-- signature, never looked up here.
CREATE TABLE admissions (
    token_id       UUID PRIMARY KEY,
    user_id        UUID NOT NULL,
    performance_id UUID NOT NULL,
    issued_at      TIMESTAMPTZ NOT NULL DEFAULT now(),
    expires_at     TIMESTAMPTZ NOT NULL
);
CREATE INDEX admissions_performance ON admissions (performance_id, issued_at);
