-- Rate-limit holds are shared only between instances on PostgreSQL (SQLite serves one
-- instance per file); the table exists here so both schemas have the same tables.
CREATE TABLE rate_limit_holds (
    connection_key TEXT PRIMARY KEY,
    held_until TEXT NOT NULL
);
