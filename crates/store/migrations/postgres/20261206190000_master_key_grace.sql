-- Live master-key rotation: a rotation keeps the previous wrapping of every data key (and the
-- previous key-check record) until `master-key retire`, so instances still running with the old
-- master key keep working; running instances report the master key they use.
ALTER TABLE data_keys ADD COLUMN prev_master_key_id TEXT;
ALTER TABLE data_keys ADD COLUMN prev_wrapped BYTEA;
ALTER TABLE key_check ADD COLUMN prev_master_key_id TEXT;
ALTER TABLE key_check ADD COLUMN prev_record BYTEA;
CREATE TABLE master_key_users (
    instance_id    TEXT PRIMARY KEY,
    master_key_id  TEXT NOT NULL,
    seen_at        TIMESTAMPTZ NOT NULL
);
