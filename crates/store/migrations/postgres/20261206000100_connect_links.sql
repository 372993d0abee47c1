-- Embeddable connect flow. An app's backend creates a link (single-use token, stored hashed);
-- its end user opens it once, and the page then works through a page secret (also hashed)
-- held in the browser's cookie.
CREATE TABLE connect_links (
    id                 TEXT PRIMARY KEY,
    org_id             TEXT NOT NULL REFERENCES organizations(id) ON DELETE CASCADE,
    token_hash         TEXT NOT NULL UNIQUE,
    created_by_key     TEXT NOT NULL,
    workspace          TEXT NOT NULL,
    name               TEXT NOT NULL,
    owner              TEXT NOT NULL,
    allowed_auth       JSONB NOT NULL,
    scopes             JSONB,
    oauth_client_id    TEXT,
    api_type           TEXT NOT NULL,
    return_url         TEXT NOT NULL,
    app_name           TEXT NOT NULL,
    mode               TEXT,
    page_secret_hash   TEXT,
    connect_session_id TEXT,
    connection_id      TEXT,
    created_at         TIMESTAMPTZ NOT NULL,
    expires_at         TIMESTAMPTZ NOT NULL,
    opened_at          TIMESTAMPTZ,
    completed_at       TIMESTAMPTZ
);
CREATE INDEX connect_links_session ON connect_links (connect_session_id);

-- Per organization: where connect links may return to, and the name the page shows.
CREATE TABLE connect_settings (
    org_id          TEXT PRIMARY KEY REFERENCES organizations(id) ON DELETE CASCADE,
    return_origins  JSONB NOT NULL,
    app_name        TEXT,
    updated_at      TIMESTAMPTZ NOT NULL
);
