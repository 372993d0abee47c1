use std::path::PathBuf;

/// Everything that can go wrong in the vault. No variant ever carries key material or plaintext.
#[derive(Debug, thiserror::Error)]
pub enum VaultError {
    #[error(
        "invalid master key: {reason} (expected 32 random bytes, base64-encoded, e.g. `openssl rand -base64 32`)"
    )]
    InvalidMasterKey { reason: &'static str },

    #[error("master key file {path}: {source}")]
    MasterKeyFile {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    #[error(
        "master key does not match this database (key-check record failed); use the master key this database was created with"
    )]
    WrongMasterKey,

    #[error(
        "data key for organization {org_id} version {version} was wrapped by master key {wrapped_by}, but the current master key is {current}"
    )]
    MasterKeyMismatch {
        org_id: String,
        version: u32,
        wrapped_by: String,
        current: String,
    },

    #[error(
        "data key for organization {org_id} version {version} could not be unwrapped: the record is corrupted or belongs to another organization/version"
    )]
    UnwrapFailed { org_id: String, version: u32 },

    #[error("malformed sealed secret: {reason}")]
    MalformedSealed { reason: &'static str },

    #[error(
        "sealed secret is for data key version {found}, but it was opened with version {expected}"
    )]
    KeyVersionMismatch { expected: u32, found: u32 },

    #[error(
        "sealed secret failed to open for organization {org_id}, record {record_id}, field {field}: wrong key, tampered data, or copied from another record, field or organization"
    )]
    OpenFailed {
        org_id: String,
        record_id: String,
        field: String,
    },

    #[error("opened secret is not valid UTF-8")]
    NotUtf8,
}
