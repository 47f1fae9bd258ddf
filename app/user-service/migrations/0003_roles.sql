-- Who may create performances: organisers. Set by an operator
-- (`opsctl users grant-organiser`), never by sign-up; NULL for customers.
ALTER TABLE users
    ADD COLUMN role TEXT CHECK (role IN ('organiser'));
