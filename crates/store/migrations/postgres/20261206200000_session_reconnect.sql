-- A connect session may re-authorize an existing OAuth connection in place (Reconnect): the
-- callback then replaces that connection's tokens instead of creating a connection.
ALTER TABLE connect_sessions ADD COLUMN reconnect_connection_id TEXT;
