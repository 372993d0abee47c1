-- MCP "Atlassian sign-in" (issue 17): an organization chooses how a person is identified when
-- an MCP client asks for access (`console`: a console session approves with its API key and a
-- shared connection; `atlassian`: the person signs in with Atlassian through the
-- organization's OAuth client and the grant acts as them, on their own user connection).
CREATE TABLE mcp_settings (
    org_id           TEXT PRIMARY KEY REFERENCES organizations(id) ON DELETE CASCADE,
    sign_in          TEXT NOT NULL,
    oauth_client_id  TEXT REFERENCES oauth_clients(id) ON DELETE SET NULL,
    subdomain        TEXT,
    updated_at       INTEGER NOT NULL
);

-- A connect session is an ordinary connect (or Reconnect), or an MCP sign-in whose callback
-- creates or reuses the person's own user connection.
ALTER TABLE connect_sessions ADD COLUMN purpose TEXT NOT NULL DEFAULT 'connect';

-- A grant's principal is either the API key that approved it (console mode) or the Atlassian
-- account that signed in (atlassian mode): api_key_id becomes nullable, with exactly one of the
-- two set. SQLite cannot relax NOT NULL in place, so both tables are rebuilt; the tokens are
-- copied into a table that references the new grants table before the old ones are dropped, so
-- no ON DELETE CASCADE fires, and the renames carry the references along.
CREATE TABLE mcp_grants_new (
    id                    TEXT PRIMARY KEY,
    org_id                TEXT NOT NULL REFERENCES organizations(id) ON DELETE CASCADE,
    connection_id         TEXT NOT NULL REFERENCES connections(id) ON DELETE CASCADE,
    api_key_id            TEXT REFERENCES api_keys(id) ON DELETE CASCADE,
    atlassian_account_id  TEXT,
    client_id             TEXT NOT NULL,
    client_name           TEXT NOT NULL,
    scope                 TEXT NOT NULL,
    resource              TEXT NOT NULL,
    created_at            INTEGER NOT NULL,
    revoked_at            INTEGER,
    CHECK ((api_key_id IS NULL) <> (atlassian_account_id IS NULL))
);
INSERT INTO mcp_grants_new (id, org_id, connection_id, api_key_id, atlassian_account_id,
    client_id, client_name, scope, resource, created_at, revoked_at)
SELECT id, org_id, connection_id, api_key_id, NULL, client_id, client_name, scope, resource,
    created_at, revoked_at FROM mcp_grants;

CREATE TABLE mcp_tokens_new (
    token_hash  TEXT PRIMARY KEY,
    kind        TEXT NOT NULL,
    grant_id    TEXT REFERENCES mcp_grants_new(id) ON DELETE CASCADE,
    data        TEXT NOT NULL,
    created_at  INTEGER NOT NULL,
    expires_at  INTEGER NOT NULL,
    used_at     INTEGER
);
INSERT INTO mcp_tokens_new SELECT token_hash, kind, grant_id, data, created_at, expires_at, used_at
FROM mcp_tokens;

DROP TABLE mcp_tokens;
DROP TABLE mcp_grants;
ALTER TABLE mcp_grants_new RENAME TO mcp_grants;
ALTER TABLE mcp_tokens_new RENAME TO mcp_tokens;
CREATE INDEX mcp_grants_connection ON mcp_grants (org_id, connection_id);
CREATE INDEX mcp_grants_account ON mcp_grants (org_id, atlassian_account_id);
CREATE INDEX mcp_tokens_grant ON mcp_tokens (grant_id);
CREATE INDEX mcp_tokens_expiry ON mcp_tokens (expires_at);
