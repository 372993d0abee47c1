//! Web console sessions. A person signs in with an API key once; the console then keeps a
//! server-side session whose token lives only in an HttpOnly cookie. The database holds the
//! token's SHA-256 hash, the session acts with the key's scopes, and it ends at sign-out, at
//! expiry, or when the key is revoked.

use jiragate_store::ApiKeyRecord;
use rand::RngCore;
use secrecy::SecretString;
use serde_json::json;
use time::{Duration, OffsetDateTime};

use crate::{Actor, Engine, EngineError, keys};

/// How long a console session lasts after sign-in (absolute, not sliding).
pub const CONSOLE_SESSION_TTL: Duration = Duration::hours(8);

/// Session tokens look unlike API keys, so one can never be mistaken for the other.
const TOKEN_PREFIX: &str = "jgs_";

/// A session just opened. The token leaves the engine only inside a `SecretString`.
pub struct ConsoleSignIn {
    pub token: SecretString,
    pub key: ApiKeyRecord,
    pub expires_at: OffsetDateTime,
}

impl std::fmt::Debug for ConsoleSignIn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ConsoleSignIn")
            .field("token", &"[redacted]")
            .field("key", &self.key.id)
            .field("expires_at", &self.expires_at)
            .finish()
    }
}

impl Engine {
    /// Opens a console session for a presented API key (`Unauthorized` for an unknown or
    /// revoked key).
    pub async fn console_sign_in(&self, presented_key: &str) -> Result<ConsoleSignIn, EngineError> {
        let key = self.authenticate(presented_key).await?;
        let mut raw = [0u8; 32];
        rand::rng().fill_bytes(&mut raw);
        let token = format!(
            "{TOKEN_PREFIX}{}",
            base64::Engine::encode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, raw)
        );
        let expires_at = OffsetDateTime::now_utc() + CONSOLE_SESSION_TTL;
        self.store
            .create_console_session(&key.org_id, &key.id, &keys::hash(&token), expires_at)
            .await?;
        self.append_audit(
            Actor::Key(&key),
            &key.org_id,
            "console.sign_in",
            key.id.as_ref(),
            json!({}),
        )
        .await;
        Ok(ConsoleSignIn {
            token: SecretString::from(token),
            key,
            expires_at,
        })
    }

    /// The API key behind a live console session, or `Unauthorized` (unknown, expired or
    /// signed-out session, or a key revoked since).
    pub async fn console_session(&self, token: &str) -> Result<ApiKeyRecord, EngineError> {
        if !token.starts_with(TOKEN_PREFIX) || token.len() > 100 {
            return Err(EngineError::Unauthorized);
        }
        let key = self
            .store
            .find_console_session(&keys::hash(token), OffsetDateTime::now_utc())
            .await?
            .ok_or(EngineError::Unauthorized)?;
        if key.revoked_at.is_some() {
            return Err(EngineError::Unauthorized);
        }
        Ok(key)
    }

    /// Ends a console session (idempotent).
    pub async fn console_sign_out(&self, token: &str) -> Result<(), EngineError> {
        if !token.starts_with(TOKEN_PREFIX) || token.len() > 100 {
            return Ok(());
        }
        let key = self.console_session(token).await.ok();
        let ended = self
            .store
            .delete_console_session(&keys::hash(token))
            .await?;
        if let (true, Some(key)) = (ended, key) {
            self.append_audit(
                Actor::Key(&key),
                &key.org_id,
                "console.sign_out",
                key.id.as_ref(),
                json!({}),
            )
            .await;
        }
        Ok(())
    }
}
