use std::fmt;

use aes_gcm::Aes256Gcm;
use secrecy::{ExposeSecret, SecretString};
use zeroize::{Zeroize, Zeroizing};

use crate::crypto::{self, KEY_LEN};
use crate::error::VaultError;
use crate::sealed::{SEALED_FORMAT_VERSION, SealedSecret};

/// Where a sealed secret belongs. Every field is authenticated (AAD), so a ciphertext only
/// opens under exactly the context it was sealed with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SealContext<'a> {
    pub org_id: &'a str,
    /// Id of the row that owns the secret (connection id, OAuth client record id, session id).
    pub record_id: &'a str,
    /// Column / purpose, e.g. "api_token", "refresh_token".
    pub field: &'a str,
    /// Version of the organization's data key used.
    pub key_version: u32,
}

impl SealContext<'_> {
    fn aad(&self) -> Vec<u8> {
        crypto::aad(
            "jiragate/sealed-secret/v1",
            &[
                &[SEALED_FORMAT_VERSION],
                self.org_id.as_bytes(),
                self.record_id.as_bytes(),
                self.field.as_bytes(),
                &self.key_version.to_be_bytes(),
            ],
        )
    }
}

/// An organization's data key (32 bytes, zeroized on drop, never printed).
#[derive(Clone)]
pub struct DataKey {
    key: Zeroizing<[u8; KEY_LEN]>,
    cipher: Aes256Gcm,
}

impl fmt::Debug for DataKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("DataKey(..)")
    }
}

impl DataKey {
    pub(crate) fn from_key(key: Zeroizing<[u8; KEY_LEN]>) -> Self {
        DataKey {
            cipher: crypto::cipher(&key),
            key,
        }
    }

    pub(crate) fn key_bytes(&self) -> &[u8] {
        self.key.as_slice()
    }

    /// A fresh random data key from the OS CSPRNG.
    pub fn generate() -> Self {
        Self::from_key(crypto::random_key())
    }

    /// Encrypts `plaintext` with a fresh random nonce, bound to `ctx`.
    pub fn seal(&self, ctx: &SealContext, plaintext: &SecretString) -> SealedSecret {
        let (nonce, ct) = crypto::seal(
            &self.cipher,
            &ctx.aad(),
            plaintext.expose_secret().as_bytes(),
        );
        SealedSecret::assemble(ctx.key_version, &nonce, &ct)
    }

    /// Authenticates and decrypts. Fails if the ciphertext, its header, or any part of the
    /// context (organization, record, field, key version) differs from sealing time.
    pub fn open(
        &self,
        ctx: &SealContext,
        sealed: &SealedSecret,
    ) -> Result<SecretString, VaultError> {
        let parts = sealed.parse()?;
        if parts.key_version != ctx.key_version {
            return Err(VaultError::KeyVersionMismatch {
                expected: ctx.key_version,
                found: parts.key_version,
            });
        }
        let mut plain = crypto::open(&self.cipher, &ctx.aad(), &parts.nonce, &parts.ciphertext)
            .ok_or_else(|| VaultError::OpenFailed {
                org_id: ctx.org_id.to_owned(),
                record_id: ctx.record_id.to_owned(),
                field: ctx.field.to_owned(),
            })?;
        let result = match std::str::from_utf8(&plain) {
            // `String::from(&str)` allocates exactly `len` bytes, so turning it into the
            // boxed str inside SecretString does not reallocate and leave a stray copy.
            Ok(s) => Ok(SecretString::from(String::from(s))),
            Err(_) => Err(VaultError::NotUtf8),
        };
        plain.zeroize();
        result
    }
}
