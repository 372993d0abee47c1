use std::fmt;
use std::str::FromStr;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::{Deserialize, Serialize};

use crate::crypto::{NONCE_LEN, TAG_LEN};
use crate::error::VaultError;

/// Text prefix naming the sealed format version.
pub const SEALED_PREFIX: &str = "jgv1";
pub(crate) const SEALED_FORMAT_VERSION: u8 = 1;

/// A sealed secret as stored: `jgv1.<key_version>.<nonce b64url>.<ciphertext+tag b64url>`.
///
/// Self-describing: the format version and the data key version needed to open it are in
/// the text; both are also authenticated through the AAD.
#[derive(Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct SealedSecret(String);

pub(crate) struct SealedParts {
    pub key_version: u32,
    pub nonce: [u8; NONCE_LEN],
    pub ciphertext: Vec<u8>,
}

impl SealedSecret {
    pub(crate) fn assemble(key_version: u32, nonce: &[u8; NONCE_LEN], ct: &[u8]) -> Self {
        SealedSecret(format!(
            "{SEALED_PREFIX}.{key_version}.{}.{}",
            URL_SAFE_NO_PAD.encode(nonce),
            URL_SAFE_NO_PAD.encode(ct)
        ))
    }

    /// Validates the text form (as read back from storage).
    pub fn parse_str(s: &str) -> Result<Self, VaultError> {
        let sealed = SealedSecret(s.to_owned());
        sealed.parse()?;
        Ok(sealed)
    }

    pub(crate) fn parse(&self) -> Result<SealedParts, VaultError> {
        let malformed = |reason| VaultError::MalformedSealed { reason };
        let mut it = self.0.split('.');
        let (Some(prefix), Some(version), Some(nonce), Some(ct), None) =
            (it.next(), it.next(), it.next(), it.next(), it.next())
        else {
            return Err(malformed("expected four dot-separated parts"));
        };
        if prefix != SEALED_PREFIX {
            return Err(malformed("unknown format version"));
        }
        if version.is_empty() || !version.bytes().all(|b| b.is_ascii_digit()) {
            return Err(malformed("key version is not a number"));
        }
        let key_version: u32 = version
            .parse()
            .map_err(|_| malformed("key version out of range"))?;
        let nonce: [u8; NONCE_LEN] = URL_SAFE_NO_PAD
            .decode(nonce)
            .ok()
            .and_then(|n| n.try_into().ok())
            .ok_or_else(|| malformed("nonce is not 12 base64url bytes"))?;
        let ciphertext = URL_SAFE_NO_PAD
            .decode(ct)
            .map_err(|_| malformed("ciphertext is not base64url"))?;
        if ciphertext.len() < TAG_LEN {
            return Err(malformed("ciphertext shorter than the authentication tag"));
        }
        Ok(SealedParts {
            key_version,
            nonce,
            ciphertext,
        })
    }

    /// The data key version this secret was sealed with (to pick the key for opening).
    pub fn key_version(&self) -> Result<u32, VaultError> {
        Ok(self.parse()?.key_version)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn into_string(self) -> String {
        self.0
    }
}

impl fmt::Debug for SealedSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Ciphertext is not secret, but keep logs short and uninteresting.
        let version = self.parse().map(|p| p.key_version).ok();
        write!(f, "SealedSecret(v{version:?}, {} chars)", self.0.len())
    }
}

impl fmt::Display for SealedSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl FromStr for SealedSecret {
    type Err = VaultError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse_str(s)
    }
}

impl TryFrom<String> for SealedSecret {
    type Error = VaultError;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        let sealed = SealedSecret(s);
        sealed.parse()?;
        Ok(sealed)
    }
}

impl From<SealedSecret> for String {
    fn from(s: SealedSecret) -> String {
        s.0
    }
}

impl AsRef<str> for SealedSecret {
    fn as_ref(&self) -> &str {
        &self.0
    }
}
