-- jiragate schema (PostgreSQL). Timestamps are TIMESTAMPTZ.
-- Sealed columns hold jiragate-vault ciphertext text; no column ever holds a plaintext secret.

CREATE TABLE organizations (
    id          TEXT PRIMARY KEY,
    name        TEXT NOT NULL UNIQUE,
    created_at  TIMESTAMPTZ NOT NULL
);

CREATE TABLE workspaces (
    id          TEXT PRIMARY KEY,
    org_id      TEXT NOT NULL REFERENCES organizations(id) ON DELETE CASCADE,
    name        TEXT NOT NULL,
    created_at  TIMESTAMPTZ NOT NULL,
    UNIQUE (org_id, name)
);

CREATE TABLE api_keys (
    id            TEXT PRIMARY KEY,
    org_id        TEXT NOT NULL REFERENCES organizations(id) ON DELETE CASCADE,
    name          TEXT NOT NULL,
    prefix        TEXT NOT NULL,
    key_hash      TEXT NOT NULL UNIQUE,
    scopes        JSONB NOT NULL,
    platform      BOOLEAN NOT NULL,
    created_at    TIMESTAMPTZ NOT NULL,
    revoked_at    TIMESTAMPTZ,
    last_used_at  TIMESTAMPTZ
);
CREATE INDEX api_keys_org ON api_keys (org_id);

CREATE TABLE data_keys (
    org_id         TEXT NOT NULL REFERENCES organizations(id) ON DELETE CASCADE,
    version        BIGINT NOT NULL,
    master_key_id  TEXT NOT NULL,
    wrapped        BYTEA NOT NULL,
    created_at     TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (org_id, version)
);

CREATE TABLE key_check (
    id             BIGINT PRIMARY KEY CHECK (id = 1),
    master_key_id  TEXT NOT NULL,
    record         BYTEA NOT NULL,
    updated_at     TIMESTAMPTZ NOT NULL
);

CREATE TABLE oauth_clients (
    id                    TEXT PRIMARY KEY,
    org_id                TEXT NOT NULL REFERENCES organizations(id) ON DELETE CASCADE,
    client_id             TEXT NOT NULL,
    sealed_client_secret  TEXT NOT NULL,
    redirect_uri          TEXT NOT NULL,
    scopes                JSONB NOT NULL,
    created_at            TIMESTAMPTZ NOT NULL,
    UNIQUE (org_id, id)
);
CREATE INDEX oauth_clients_org ON oauth_clients (org_id);

CREATE TABLE connections (
    id               TEXT PRIMARY KEY,
    org_id           TEXT NOT NULL REFERENCES organizations(id) ON DELETE CASCADE,
    workspace        TEXT NOT NULL,
    name             TEXT NOT NULL,
    api_type         TEXT NOT NULL,
    auth_kind        TEXT NOT NULL,
    site_url         TEXT NOT NULL,
    subdomain        TEXT,
    cloud_id         TEXT,
    account_id       TEXT,
    account_name     TEXT,
    email            TEXT,
    oauth_client_id  TEXT,
    scopes           JSONB NOT NULL,
    owner            TEXT NOT NULL,
    status           TEXT NOT NULL,
    status_reason    TEXT,
    last_checked_at  TIMESTAMPTZ,
    version          BIGINT NOT NULL,
    created_at       TIMESTAMPTZ NOT NULL,
    updated_at       TIMESTAMPTZ NOT NULL,
    UNIQUE (org_id, workspace, name),
    UNIQUE (org_id, id),
    FOREIGN KEY (org_id, workspace) REFERENCES workspaces (org_id, name),
    -- an OAuth client can only be used by connections of its own organization
    FOREIGN KEY (org_id, oauth_client_id) REFERENCES oauth_clients (org_id, id)
);
CREATE INDEX connections_oauth_client ON connections (oauth_client_id);

CREATE TABLE credentials (
    connection_id         TEXT PRIMARY KEY,
    org_id                TEXT NOT NULL REFERENCES organizations(id) ON DELETE CASCADE,
    generation            BIGINT NOT NULL,
    sealed_api_token      TEXT,
    sealed_access_token   TEXT,
    sealed_refresh_token  TEXT,
    access_expires_at     TIMESTAMPTZ,
    refresh_issued_at     TIMESTAMPTZ,
    updated_at            TIMESTAMPTZ NOT NULL,
    FOREIGN KEY (org_id, connection_id) REFERENCES connections (org_id, id) ON DELETE CASCADE
);
CREATE INDEX credentials_access_expiry ON credentials (access_expires_at);

CREATE TABLE connect_sessions (
    id                     TEXT PRIMARY KEY,
    org_id                 TEXT NOT NULL REFERENCES organizations(id) ON DELETE CASCADE,
    oauth_client_id        TEXT NOT NULL,
    workspace              TEXT NOT NULL,
    name                   TEXT NOT NULL,
    owner                  TEXT NOT NULL,
    scopes                 JSONB NOT NULL,
    subdomain              TEXT,
    api_type               TEXT NOT NULL,
    state_hash             TEXT NOT NULL UNIQUE,
    sealed_pkce_verifier   TEXT NOT NULL,
    status                 TEXT NOT NULL,
    sites_json             JSONB,
    sealed_pending_tokens  TEXT,
    connection_id          TEXT REFERENCES connections(id) ON DELETE SET NULL,
    error                  TEXT,
    expires_at             TIMESTAMPTZ NOT NULL,
    created_at             TIMESTAMPTZ NOT NULL,
    consumed_at            TIMESTAMPTZ,
    FOREIGN KEY (org_id, oauth_client_id) REFERENCES oauth_clients (org_id, id) ON DELETE CASCADE
);
CREATE INDEX connect_sessions_org ON connect_sessions (org_id);

-- Rows are never deleted, so fencing tokens only ever grow per name.
CREATE TABLE leases (
    name           TEXT PRIMARY KEY,
    holder         TEXT NOT NULL,
    fencing_token  BIGINT NOT NULL,
    expires_at     TIMESTAMPTZ NOT NULL
);

CREATE TABLE audit_events (
    id      TEXT PRIMARY KEY,
    org_id  TEXT NOT NULL REFERENCES organizations(id) ON DELETE CASCADE,
    at      TIMESTAMPTZ NOT NULL,
    actor   TEXT NOT NULL,
    action  TEXT NOT NULL,
    target  TEXT NOT NULL,
    detail  JSONB NOT NULL
);
CREATE INDEX audit_events_org_at ON audit_events (org_id, at);

CREATE TABLE health_checks (
    id             BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    org_id         TEXT NOT NULL REFERENCES organizations(id) ON DELETE CASCADE,
    connection_id  TEXT NOT NULL REFERENCES connections(id) ON DELETE CASCADE,
    at             TIMESTAMPTZ NOT NULL,
    status         TEXT NOT NULL,
    reason         TEXT,
    latency_ms     BIGINT NOT NULL
);
CREATE INDEX health_checks_connection_at ON health_checks (connection_id, at);
