-- MCP "Atlassian sign-in" (issue 17): an organization chooses how a person is identified when
-- an MCP client asks for access (`console`: a console session approves with its API key and a
-- shared connection; `atlassian`: the person signs in with Atlassian through the
-- organization's OAuth client and the grant acts as them, on their own user connection).
CREATE TABLE mcp_settings (
    org_id           TEXT PRIMARY KEY REFERENCES organizations(id) ON DELETE CASCADE,
    sign_in          TEXT NOT NULL,
    oauth_client_id  TEXT REFERENCES oauth_clients(id) ON DELETE SET NULL,
    subdomain        TEXT,
    updated_at       TIMESTAMPTZ NOT NULL
);

-- A connect session is an ordinary connect (or Reconnect), or an MCP sign-in whose callback
-- creates or reuses the person's own user connection.
ALTER TABLE connect_sessions ADD COLUMN purpose TEXT NOT NULL DEFAULT 'connect';

-- A grant's principal is either the API key that approved it (console mode) or the Atlassian
-- account that signed in (atlassian mode): exactly one of the two is set.
ALTER TABLE mcp_grants ALTER COLUMN api_key_id DROP NOT NULL;
ALTER TABLE mcp_grants ADD COLUMN atlassian_account_id TEXT;
ALTER TABLE mcp_grants ADD CONSTRAINT mcp_grants_one_principal
    CHECK ((api_key_id IS NULL) <> (atlassian_account_id IS NULL));
CREATE INDEX mcp_grants_account ON mcp_grants (org_id, atlassian_account_id);
