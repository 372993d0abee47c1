-- MCP authorization (jiragate as the OAuth authorization server of its own /mcp resource).
-- Registered clients (RFC 7591; client ID metadata documents are fetched, never stored),
-- grants (one person's consent: one client, one connection, one mode), and every token the
-- flow hands out, kept only as SHA-256 hashes: pending authorization requests, codes,
-- access tokens and refresh tokens.
CREATE TABLE mcp_clients (
    client_id      TEXT PRIMARY KEY,
    client_name    TEXT NOT NULL,
    redirect_uris  TEXT NOT NULL,
    created_at     INTEGER NOT NULL
);

CREATE TABLE mcp_grants (
    id             TEXT PRIMARY KEY,
    org_id         TEXT NOT NULL REFERENCES organizations(id) ON DELETE CASCADE,
    connection_id  TEXT NOT NULL REFERENCES connections(id) ON DELETE CASCADE,
    api_key_id     TEXT NOT NULL REFERENCES api_keys(id) ON DELETE CASCADE,
    client_id      TEXT NOT NULL,
    client_name    TEXT NOT NULL,
    scope          TEXT NOT NULL,
    resource       TEXT NOT NULL,
    created_at     INTEGER NOT NULL,
    revoked_at     INTEGER
);
CREATE INDEX mcp_grants_connection ON mcp_grants (org_id, connection_id);

CREATE TABLE mcp_tokens (
    token_hash  TEXT PRIMARY KEY,
    kind        TEXT NOT NULL,
    grant_id    TEXT REFERENCES mcp_grants(id) ON DELETE CASCADE,
    data        TEXT NOT NULL,
    created_at  INTEGER NOT NULL,
    expires_at  INTEGER NOT NULL,
    used_at     INTEGER
);
CREATE INDEX mcp_tokens_grant ON mcp_tokens (grant_id);
CREATE INDEX mcp_tokens_expiry ON mcp_tokens (expires_at);
