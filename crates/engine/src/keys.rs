//! API keys: random, shown once, stored as a SHA-256 hash. A key is 32 random bytes, so a plain
//! hash is the right tool (no password stretching needed); lookups go by hash and the final
//! comparison is constant-time.

use rand::RngCore;
use secrecy::SecretString;
use sha2::{Digest, Sha256};

/// Prefix that makes keys recognisable to secret scanners.
pub const KEY_PREFIX: &str = "jg_";

/// The scopes an API key can carry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub enum ApiScope {
    #[serde(rename = "admin")]
    Admin,
    #[serde(rename = "connectors:write")]
    ConnectorsWrite,
    #[serde(rename = "execute")]
    Execute,
    #[serde(rename = "proxy")]
    Proxy,
    #[serde(rename = "credentials:read")]
    CredentialsRead,
}

impl ApiScope {
    pub const ALL: [ApiScope; 5] = [
        ApiScope::Admin,
        ApiScope::ConnectorsWrite,
        ApiScope::Execute,
        ApiScope::Proxy,
        ApiScope::CredentialsRead,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            ApiScope::Admin => "admin",
            ApiScope::ConnectorsWrite => "connectors:write",
            ApiScope::Execute => "execute",
            ApiScope::Proxy => "proxy",
            ApiScope::CredentialsRead => "credentials:read",
        }
    }

    pub fn parse(s: &str) -> Option<ApiScope> {
        ApiScope::ALL.into_iter().find(|x| x.as_str() == s.trim())
    }
}

/// Whether a key with `granted` scopes may do what `needed` allows. `admin` implies every scope
/// except `credentials:read`, which hands out raw tokens and must be granted explicitly.
pub fn allows(granted: &[String], needed: ApiScope) -> bool {
    granted.iter().any(|g| g == needed.as_str())
        || (needed != ApiScope::CredentialsRead
            && granted.iter().any(|g| g == ApiScope::Admin.as_str()))
}

/// A fresh key and its hash. The key leaves this function only inside a `SecretString`.
pub fn generate() -> (SecretString, String, String) {
    let mut raw = [0u8; 32];
    rand::rng().fill_bytes(&mut raw);
    let body = base64::Engine::encode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, raw);
    let key = format!("{KEY_PREFIX}{body}");
    let hash = hash(&key);
    let prefix = key.chars().take(KEY_PREFIX.len() + 6).collect::<String>();
    (SecretString::from(key), hash, prefix)
}

pub fn hash(presented: &str) -> String {
    hex::encode(Sha256::digest(presented.trim().as_bytes()))
}

/// Constant-time equality of two hex hashes.
pub fn hashes_equal(a: &str, b: &str) -> bool {
    use subtle::ConstantTimeEq;
    a.len() == b.len() && bool::from(a.as_bytes().ct_eq(b.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use secrecy::ExposeSecret;

    #[test]
    fn generated_keys_are_unique_prefixed_and_hash_stably() {
        let (a, ha, pa) = generate();
        let (b, hb, _) = generate();
        assert_ne!(a.expose_secret(), b.expose_secret());
        assert!(a.expose_secret().starts_with(KEY_PREFIX) && a.expose_secret().len() > 40);
        assert_eq!(hash(a.expose_secret()), ha);
        assert_ne!(ha, hb);
        assert!(a.expose_secret().starts_with(&pa));
        assert!(hashes_equal(&ha, &hash(a.expose_secret())) && !hashes_equal(&ha, &hb));
    }

    #[test]
    fn admin_implies_all_but_credentials_read() {
        let admin = vec!["admin".to_string()];
        assert!(allows(&admin, ApiScope::Execute) && allows(&admin, ApiScope::Proxy));
        assert!(!allows(&admin, ApiScope::CredentialsRead));
        assert!(allows(
            &["credentials:read".into()],
            ApiScope::CredentialsRead
        ));
        assert!(!allows(&["execute".into()], ApiScope::Proxy));
    }
}
