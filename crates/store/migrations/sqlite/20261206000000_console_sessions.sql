-- Web console sessions: the cookie's token is kept only as a SHA-256 hash; a session ends at
-- sign-out, at expiry, or with the API key that opened it.
CREATE TABLE console_sessions (
    token_hash  TEXT PRIMARY KEY,
    org_id      TEXT NOT NULL REFERENCES organizations(id) ON DELETE CASCADE,
    api_key_id  TEXT NOT NULL REFERENCES api_keys(id) ON DELETE CASCADE,
    created_at  INTEGER NOT NULL,
    expires_at  INTEGER NOT NULL
);
CREATE INDEX console_sessions_key ON console_sessions (org_id, api_key_id);
CREATE INDEX console_sessions_expiry ON console_sessions (expires_at);
