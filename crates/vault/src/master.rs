use std::fmt;
use std::io::Write;
use std::path::Path;

use aes_gcm::Aes256Gcm;
use base64::Engine;
use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD};
use secrecy::SecretString;
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use crate::crypto::{self, KEY_LEN, NONCE_LEN, TAG_LEN};
use crate::data_key::DataKey;
use crate::error::VaultError;

/// File name of the generated master key inside the data directory.
pub const MASTER_KEY_FILE: &str = "master.key";

/// Format byte at the start of wrapped data keys and key-check records.
const WRAP_FORMAT_V1: u8 = 1;
const KEY_ID_INFO: &[u8] = b"jiragate master key id v1";
const KEK_INFO: &[u8] = b"jiragate key-encryption key v1";
const KEY_CHECK_PLAINTEXT: &[u8] = b"jiragate key check v1";

/// The root key. 32 bytes, held only in zeroizing memory, never printed.
///
/// It is never used directly as a cipher key: a key-encryption key and the public
/// fingerprint are both derived from it with HKDF under distinct labels.
#[derive(Clone)]
pub struct MasterKey {
    key: Zeroizing<[u8; KEY_LEN]>,
    kek: Aes256Gcm,
    key_id: String,
}

impl fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MasterKey")
            .field("key_id", &self.key_id)
            .finish_non_exhaustive()
    }
}

/// A data key encrypted under a master key. Safe to store.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WrappedDataKey {
    /// [`MasterKey::key_id`] of the master key that wrapped it.
    pub master_key_id: String,
    /// format byte || nonce || ciphertext || tag.
    pub bytes: Vec<u8>,
}

impl fmt::Debug for WrappedDataKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WrappedDataKey")
            .field("master_key_id", &self.master_key_id)
            .field("len", &self.bytes.len())
            .finish()
    }
}

impl MasterKey {
    fn from_bytes(key: Zeroizing<[u8; KEY_LEN]>) -> Self {
        let kek_bytes = crypto::derive(key.as_slice(), KEK_INFO);
        let id_bytes = crypto::derive(key.as_slice(), KEY_ID_INFO);
        let key_id = id_bytes[..8].iter().map(|b| format!("{b:02x}")).collect();
        MasterKey {
            kek: crypto::cipher(&kek_bytes),
            key,
            key_id,
        }
    }

    /// A fresh random master key from the OS CSPRNG.
    pub fn generate() -> Self {
        Self::from_bytes(crypto::random_key())
    }

    /// Parses standard base64 (padding optional, surrounding whitespace ignored) of exactly
    /// 32 bytes. The error never echoes the input.
    pub fn from_base64(s: &str) -> Result<Self, VaultError> {
        let trimmed = s.trim();
        let decoded = Zeroizing::new(
            STANDARD
                .decode(trimmed)
                .or_else(|_| STANDARD_NO_PAD.decode(trimmed))
                .map_err(|_| VaultError::InvalidMasterKey {
                    reason: "not valid base64",
                })?,
        );
        if decoded.len() != KEY_LEN {
            return Err(VaultError::InvalidMasterKey {
                reason: "decoded length is not 32 bytes",
            });
        }
        let mut key = Zeroizing::new([0u8; KEY_LEN]);
        key.copy_from_slice(&decoded);
        Ok(Self::from_bytes(key))
    }

    /// Standard base64 (with padding) of the key, for writing it to a key file.
    pub fn to_base64(&self) -> SecretString {
        SecretString::from(STANDARD.encode(self.key.as_slice()))
    }

    /// Reads a master key file (base64 text, as written by [`MasterKey::load_or_create`]).
    /// Used for `JIRAGATE_MASTER_KEY_FILE` and `--new-key-file`.
    pub fn from_file(path: &Path) -> Result<Self, VaultError> {
        let text = Zeroizing::new(std::fs::read_to_string(path).map_err(|source| {
            VaultError::MasterKeyFile {
                path: path.to_path_buf(),
                source,
            }
        })?);
        Self::from_base64(&text)
    }

    /// Loads `<data_dir>/master.key`, or generates it (mode 0600, never overwritten) when it
    /// does not exist. Returns `created = true` on generation so the caller can tell the
    /// operator to back the file up.
    pub fn load_or_create(data_dir: &Path) -> Result<(Self, bool), VaultError> {
        let path = data_dir.join(MASTER_KEY_FILE);
        let io_err = |source| VaultError::MasterKeyFile {
            path: path.clone(),
            source,
        };
        if path.exists() {
            return Ok((Self::from_file(&path)?, false));
        }
        std::fs::create_dir_all(data_dir).map_err(io_err)?;
        let key = Self::generate();
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            options.mode(0o600);
        }
        match options.open(&path) {
            Ok(mut file) => {
                let encoded = key.to_base64();
                let mut line = Zeroizing::new(String::with_capacity(48));
                line.push_str(secrecy::ExposeSecret::expose_secret(&encoded));
                line.push('\n');
                file.write_all(line.as_bytes()).map_err(io_err)?;
                file.sync_all().map_err(io_err)?;
                Ok((key, true))
            }
            // Another process created it between our check and our create: use theirs.
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                Ok((Self::from_file(&path)?, false))
            }
            Err(e) => Err(io_err(e)),
        }
    }

    /// Short public fingerprint (16 hex chars). HKDF-derived under a fixed label, so it
    /// reveals nothing about the key and is not a plain hash of it.
    pub fn key_id(&self) -> String {
        self.key_id.clone()
    }

    fn wrap_aad(org_id: &str, version: u32) -> Vec<u8> {
        crypto::aad(
            "jiragate/wrap-data-key/v1",
            &[org_id.as_bytes(), &version.to_be_bytes()],
        )
    }

    /// Encrypts a data key for storage, bound to its organization and version.
    pub fn wrap(&self, dk: &DataKey, org_id: &str, version: u32) -> WrappedDataKey {
        let aad = Self::wrap_aad(org_id, version);
        let (nonce, ct) = crypto::seal(&self.kek, &aad, dk.key_bytes());
        WrappedDataKey {
            master_key_id: self.key_id.clone(),
            bytes: frame(&nonce, &ct),
        }
    }

    /// Decrypts a wrapped data key; fails unless it was wrapped by this master key for
    /// exactly this organization and version.
    pub fn unwrap(
        &self,
        w: &WrappedDataKey,
        org_id: &str,
        version: u32,
    ) -> Result<DataKey, VaultError> {
        if w.master_key_id != self.key_id {
            return Err(VaultError::MasterKeyMismatch {
                org_id: org_id.to_owned(),
                version,
                wrapped_by: w.master_key_id.clone(),
                current: self.key_id.clone(),
            });
        }
        let failed = || VaultError::UnwrapFailed {
            org_id: org_id.to_owned(),
            version,
        };
        let (nonce, ct) = unframe(&w.bytes).ok_or_else(failed)?;
        let plain = crypto::open(&self.kek, &Self::wrap_aad(org_id, version), &nonce, ct)
            .ok_or_else(failed)?;
        if plain.len() != KEY_LEN {
            return Err(failed());
        }
        let mut key = Zeroizing::new([0u8; KEY_LEN]);
        key.copy_from_slice(&plain);
        Ok(DataKey::from_key(key))
    }

    fn key_check_aad(&self) -> Vec<u8> {
        crypto::aad("jiragate/key-check/v1", &[self.key_id.as_bytes()])
    }

    /// A record to store next to the data keys; [`MasterKey::verify_key_check`] proves with
    /// it that a master key is the one the database was set up with.
    pub fn key_check(&self) -> Vec<u8> {
        let (nonce, ct) = crypto::seal(&self.kek, &self.key_check_aad(), KEY_CHECK_PLAINTEXT);
        frame(&nonce, &ct)
    }

    /// Authenticated check of a key-check record: any other master key (or a damaged
    /// record) gives [`VaultError::WrongMasterKey`], never a garbage decrypt.
    pub fn verify_key_check(&self, rec: &[u8]) -> Result<(), VaultError> {
        let (nonce, ct) = unframe(rec).ok_or(VaultError::WrongMasterKey)?;
        match crypto::open(&self.kek, &self.key_check_aad(), &nonce, ct) {
            Some(p) if p.as_slice() == KEY_CHECK_PLAINTEXT => Ok(()),
            _ => Err(VaultError::WrongMasterKey),
        }
    }
}

fn frame(nonce: &[u8; NONCE_LEN], ct: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(1 + NONCE_LEN + ct.len());
    out.push(WRAP_FORMAT_V1);
    out.extend_from_slice(nonce);
    out.extend_from_slice(ct);
    out
}

fn unframe(bytes: &[u8]) -> Option<([u8; NONCE_LEN], &[u8])> {
    let (&format, rest) = bytes.split_first()?;
    if format != WRAP_FORMAT_V1 || rest.len() < NONCE_LEN + TAG_LEN {
        return None;
    }
    let (nonce, ct) = rest.split_at(NONCE_LEN);
    Some((nonce.try_into().ok()?, ct))
}

#[cfg(test)]
mod tests {
    use super::*;
    use secrecy::ExposeSecret;

    #[test]
    fn base64_round_trip_keeps_identity() {
        let k = MasterKey::generate();
        let again = MasterKey::from_base64(k.to_base64().expose_secret()).unwrap();
        assert_eq!(k.key_id(), again.key_id());
    }

    #[test]
    fn rejects_wrong_length_and_garbage_without_echoing_input() {
        let short = STANDARD.encode([1u8; 16]);
        let err = MasterKey::from_base64(&short).unwrap_err().to_string();
        assert!(err.contains("32 bytes"), "{err}");
        assert!(!err.contains(&short));
        assert!(MasterKey::from_base64("not base64 !!").is_err());
    }

    #[test]
    fn key_id_is_not_a_prefix_of_the_key_or_its_encoding() {
        let k = MasterKey::generate();
        let hex: String = k.key.iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(k.key_id().len(), 16);
        assert!(!hex.contains(&k.key_id()));
        assert!(!format!("{k:?}").contains(&hex));
    }
}
