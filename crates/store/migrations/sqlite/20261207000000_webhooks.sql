-- Webhooks (issue 19): subscriptions of a connection's Jira events, the events received from
-- Jira (deduplicated by Jira's webhook identifier) and a durable outbox of deliveries to
-- subscribers. JSON lists are stored as TEXT on both backends.
CREATE TABLE webhook_subscriptions (
    id                      TEXT PRIMARY KEY,
    org_id                  TEXT NOT NULL REFERENCES organizations(id) ON DELETE CASCADE,
    connection_id           TEXT NOT NULL REFERENCES connections(id) ON DELETE CASCADE,
    events                  TEXT NOT NULL,
    jql_filter              TEXT NOT NULL,
    field_ids               TEXT,
    url                     TEXT NOT NULL,
    sealed_secret           TEXT NOT NULL,
    -- The dynamic webhook registered with Jira for this subscription (OAuth connections).
    jira_webhook_id         INTEGER,
    registration_expires_at INTEGER,
    created_at              INTEGER NOT NULL
);
CREATE INDEX webhook_subscriptions_connection ON webhook_subscriptions (connection_id);

-- Per connection: the shared secret of Jira admin webhooks (X-Hub-Signature).
CREATE TABLE webhook_receivers (
    connection_id    TEXT PRIMARY KEY REFERENCES connections(id) ON DELETE CASCADE,
    org_id           TEXT NOT NULL REFERENCES organizations(id) ON DELETE CASCADE,
    sealed_secret    TEXT NOT NULL,
    created_at       INTEGER NOT NULL
);

CREATE TABLE webhook_events (
    id                 TEXT PRIMARY KEY,
    org_id             TEXT NOT NULL REFERENCES organizations(id) ON DELETE CASCADE,
    connection_id      TEXT NOT NULL REFERENCES connections(id) ON DELETE CASCADE,
    webhook_identifier TEXT NOT NULL,
    event              TEXT NOT NULL,
    issue_key          TEXT,
    body               TEXT NOT NULL,
    received_at        INTEGER NOT NULL,
    UNIQUE (connection_id, webhook_identifier)
);
CREATE INDEX webhook_events_recent ON webhook_events (connection_id, received_at);

-- The outbox: one row per (subscription, event). `id` orders deliveries; a delivery is not
-- claimed while an earlier pending one of the same subscription and issue exists.
CREATE TABLE webhook_deliveries (
    id               INTEGER PRIMARY KEY AUTOINCREMENT,
    org_id           TEXT NOT NULL REFERENCES organizations(id) ON DELETE CASCADE,
    connection_id    TEXT NOT NULL REFERENCES connections(id) ON DELETE CASCADE,
    subscription_id  TEXT NOT NULL REFERENCES webhook_subscriptions(id) ON DELETE CASCADE,
    event_id         TEXT NOT NULL REFERENCES webhook_events(id) ON DELETE CASCADE,
    ordering_key     TEXT NOT NULL,
    status           TEXT NOT NULL,
    attempts         INTEGER NOT NULL DEFAULT 0,
    next_attempt_at  INTEGER NOT NULL,
    dead_after       INTEGER NOT NULL,
    lease_owner      TEXT,
    lease_expires_at INTEGER,
    last_status      INTEGER,
    last_error       TEXT,
    created_at       INTEGER NOT NULL,
    delivered_at     INTEGER
);
CREATE INDEX webhook_deliveries_due ON webhook_deliveries (status, next_attempt_at);
CREATE INDEX webhook_deliveries_order ON webhook_deliveries (subscription_id, ordering_key, status);
CREATE INDEX webhook_deliveries_connection ON webhook_deliveries (connection_id, id);
