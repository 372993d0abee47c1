//! jiragate-vault: envelope encryption for every secret jiragate keeps.
//!
//! Key hierarchy:
//!
//! ```text
//! MasterKey (32 bytes, env / file, never stored in the database)
//!   ├── key-check record (proves the master key matches the database)
//!   └── wraps DataKey (one per organization and key version, AES-256-GCM,
//!       │            AAD = purpose + org id + key version)
//!       └── seals secrets (AES-256-GCM, random 96-bit nonce,
//!                          AAD = org id + record id + field + key version)
//! ```
//!
//! A plaintext exists only between [`DataKey::open`] and its use: it is returned in a
//! [`secrecy::SecretString`], which zeroizes on drop and never prints its value.

mod crypto;
mod data_key;
mod error;
mod master;
mod sealed;

pub use data_key::{DataKey, SealContext};
pub use error::VaultError;
pub use master::{MASTER_KEY_FILE, MasterKey, WrappedDataKey};
pub use sealed::{SEALED_PREFIX, SealedSecret};

/// Re-exported so callers use the same secrecy version as the vault.
pub use secrecy::{ExposeSecret, SecretString};
