-- +goose Up
-- Console sessions, kept by github.com/alexedwards/scs: sqlite3store writes
-- expiry as a julianday number, pgxstore as a timestamp. SQLite takes any
-- declared type, so the PostgreSQL types serve both.
CREATE TABLE sessions (
    token  TEXT PRIMARY KEY,
    data   BYTEA NOT NULL,
    expiry TIMESTAMPTZ NOT NULL
);
CREATE INDEX sessions_expiry ON sessions (expiry);
