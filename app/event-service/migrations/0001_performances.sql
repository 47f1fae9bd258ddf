-- Performances (concerts) on sale.
CREATE TABLE performances (
    id         UUID PRIMARY KEY,
    title      TEXT NOT NULL CHECK (length(title) BETWEEN 1 AND 200),
    venue      TEXT NOT NULL CHECK (length(venue) BETWEEN 1 AND 200),
    starts_at  TIMESTAMPTZ NOT NULL,
    created_at TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX performances_starts_at ON performances (starts_at);
