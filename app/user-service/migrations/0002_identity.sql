-- Identity verification (PortOne certification): one account per person.
-- CI is stored only as a keyed hash (HMAC-SHA256 with IDENTITY_HASH_KEY), so
-- a copy of this table does not reveal who anyone is.
ALTER TABLE users
    ADD COLUMN name          TEXT,
    ADD COLUMN identity_hash TEXT NOT NULL UNIQUE,
    ADD COLUMN di_hash       TEXT,
    ADD CONSTRAINT users_email_lower CHECK (email = lower(email));
