-- One registration per Atlassian client_id in an organization. Registrations made before this
-- rule that repeat a client_id are kept (connections may use them) but marked, and only
-- unmarked rows take part in the unique index.
ALTER TABLE oauth_clients ADD COLUMN legacy_duplicate BOOLEAN NOT NULL DEFAULT FALSE;
UPDATE oauth_clients SET legacy_duplicate = TRUE
WHERE EXISTS (
    SELECT 1 FROM oauth_clients o2
    WHERE o2.org_id = oauth_clients.org_id AND o2.client_id = oauth_clients.client_id
      AND (o2.created_at < oauth_clients.created_at
           OR (o2.created_at = oauth_clients.created_at AND o2.id < oauth_clients.id))
);
CREATE UNIQUE INDEX oauth_clients_org_client_id ON oauth_clients (org_id, client_id)
    WHERE NOT legacy_duplicate;

-- Reading the audit trail newest first, by connection (target) and by time.
CREATE INDEX audit_events_org_target_at ON audit_events (org_id, target, at);
