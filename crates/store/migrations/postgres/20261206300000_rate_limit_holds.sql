-- Rate-limit holds shared by instances (see store/src/rate_holds.rs): until when a connection
-- must not call Jira, by the database clock. Announced with NOTIFY jiragate_rate_holds.
CREATE TABLE rate_limit_holds (
    connection_key TEXT PRIMARY KEY,
    held_until TIMESTAMPTZ NOT NULL
);
