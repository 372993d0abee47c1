//! The OAuth 2.0 (3LO) wire protocol with Atlassian: authorize URL (state + PKCE S256), the
//! token endpoint (code exchange and rotating refresh) and accessible-resources.
//!
//! The `oauth2` crate builds the authorize URL and the PKCE pair; the token POST is done with
//! the shared `reqwest` client because Atlassian's rotating refresh tokens and its error body
//! (`{"error","error_description"}` with 403 for `invalid_grant`) need exact handling.

use std::fmt;
use std::time::Duration;

use base64::Engine as _;
use oauth2::basic::BasicClient;
use oauth2::{AuthUrl, ClientId, CsrfToken, PkceCodeChallenge, RedirectUrl, Scope};
use rand::RngCore as _;
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use sha2::{Digest, Sha256};

/// Scope that makes Atlassian issue a refresh token.
pub const OFFLINE_ACCESS: &str = "offline_access";

/// A fresh random `state`: 256 random bits, base64url. Only its hash is stored.
pub fn generate_state() -> SecretString {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    SecretString::from(base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes))
}

/// SHA-256 of the state, hex: what the store keeps and looks the session up by.
pub fn hash_state(state: &str) -> String {
    hex_lower(&Sha256::digest(state.as_bytes()))
}

fn hex_lower(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        out.push(DIGITS[(b >> 4) as usize] as char);
        out.push(DIGITS[(b & 0xf) as usize] as char);
    }
    out
}

/// Requested scopes with `offline_access` added (once), order kept, duplicates dropped.
pub fn scopes_with_offline_access(scopes: &[String]) -> Vec<String> {
    let mut out: Vec<String> = Vec::with_capacity(scopes.len() + 1);
    for s in scopes
        .iter()
        .flat_map(|s| s.split_whitespace())
        .map(str::to_owned)
        .chain(std::iter::once(OFFLINE_ACCESS.to_owned()))
    {
        if !out.contains(&s) {
            out.push(s);
        }
    }
    out
}

/// What the caller keeps from [`build_authorize_url`].
pub struct AuthorizeRequest {
    pub url: String,
    pub state: SecretString,
    pub pkce_verifier: SecretString,
}

impl fmt::Debug for AuthorizeRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AuthorizeRequest")
            .field("url", &"[contains state]")
            .finish_non_exhaustive()
    }
}

/// Atlassian's authorize URL: audience, client_id, scope, redirect_uri, state, PKCE S256,
/// response_type=code, prompt=consent.
pub fn build_authorize_url(
    authorize_endpoint: &str,
    client_id: &str,
    redirect_uri: &str,
    scopes: &[String],
) -> Result<AuthorizeRequest, String> {
    let auth_url = AuthUrl::new(authorize_endpoint.to_owned())
        .map_err(|e| format!("authorize endpoint {authorize_endpoint:?}: {e}"))?;
    let redirect = RedirectUrl::new(redirect_uri.to_owned())
        .map_err(|e| format!("redirect URI {redirect_uri:?}: {e}"))?;
    let client = BasicClient::new(ClientId::new(client_id.to_owned()))
        .set_auth_uri(auth_url)
        .set_redirect_uri(redirect);
    let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
    let state = generate_state();
    let state_for_url = state.expose_secret().to_owned();
    let (url, _) = client
        .authorize_url(move || CsrfToken::new(state_for_url))
        .add_scopes(scopes.iter().cloned().map(Scope::new))
        .add_extra_param("audience", "api.atlassian.com")
        .add_extra_param("prompt", "consent")
        .set_pkce_challenge(challenge)
        .url();
    Ok(AuthorizeRequest {
        url: url.to_string(),
        state,
        pkce_verifier: SecretString::from(verifier.into_secret()),
    })
}

/// Tokens as Atlassian's token endpoint returns them.
#[derive(Deserialize)]
pub struct TokenSet {
    pub access_token: SecretString,
    #[serde(default)]
    pub refresh_token: Option<SecretString>,
    #[serde(default = "default_expires_in")]
    pub expires_in: u64,
    #[serde(default)]
    pub scope: Option<String>,
}

fn default_expires_in() -> u64 {
    3600
}

impl TokenSet {
    /// Granted scopes, split.
    pub fn scopes(&self) -> Vec<String> {
        self.scope
            .as_deref()
            .unwrap_or("")
            .split_whitespace()
            .map(str::to_owned)
            .collect()
    }
}

impl fmt::Debug for TokenSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TokenSet")
            .field("access_token", &"[redacted]")
            .field(
                "refresh_token",
                &self.refresh_token.as_ref().map(|_| "[redacted]"),
            )
            .field("expires_in", &self.expires_in)
            .field("scope", &self.scope)
            .finish()
    }
}

/// Why a token-endpoint call failed. Carries Atlassian's error code and description, never
/// the secrets sent.
#[derive(Debug, Clone, thiserror::Error)]
pub enum TokenEndpointError {
    /// The refresh token (or code) is unknown, expired, reused or revoked: a person must
    /// consent again.
    #[error("Atlassian refused the grant (invalid_grant): {description}")]
    InvalidGrant { description: String },
    /// The client id/secret was refused (401 access_denied / unauthorized_client).
    #[error("Atlassian refused the OAuth client ({error}): {description}")]
    BadClient { error: String, description: String },
    #[error("Atlassian token endpoint answered {status} ({error}): {description}")]
    Rejected {
        status: u16,
        error: String,
        description: String,
    },
    #[error("could not reach the Atlassian token endpoint: {0}")]
    Transport(String),
    #[error("the Atlassian token endpoint sent an answer we could not read: {0}")]
    InvalidResponse(String),
}

#[derive(Deserialize)]
struct AtlassianErrorBody {
    #[serde(default)]
    error: Option<String>,
    #[serde(default)]
    error_description: Option<String>,
}

/// Talks to `<auth_url>/oauth/token` and `<api_url>/oauth/token/accessible-resources`.
#[derive(Clone)]
pub struct OAuthHttp {
    pub http: reqwest::Client,
    pub token_url: String,
    pub resources_url: String,
    pub timeout: Duration,
}

/// One site a grant covers (`GET /oauth/token/accessible-resources`).
#[derive(Debug, Clone, Deserialize, serde::Serialize, PartialEq, Eq)]
pub struct AccessibleResource {
    pub id: String,
    pub url: String,
    pub name: String,
    #[serde(default)]
    pub scopes: Vec<String>,
}

impl OAuthHttp {
    /// `grant_type=authorization_code` with the PKCE verifier.
    pub async fn exchange_code(
        &self,
        client_id: &str,
        client_secret: &SecretString,
        code: &str,
        redirect_uri: &str,
        pkce_verifier: &SecretString,
    ) -> Result<TokenSet, TokenEndpointError> {
        let form = [
            ("grant_type", "authorization_code"),
            ("client_id", client_id),
            ("client_secret", client_secret.expose_secret()),
            ("code", code),
            ("redirect_uri", redirect_uri),
            ("code_verifier", pkce_verifier.expose_secret()),
        ];
        self.post_token(&form).await
    }

    /// `grant_type=refresh_token`. Atlassian rotates: the answer carries the new refresh token.
    pub async fn refresh(
        &self,
        client_id: &str,
        client_secret: Option<&SecretString>,
        refresh_token: &SecretString,
    ) -> Result<TokenSet, TokenEndpointError> {
        let mut form: Vec<(&str, &str)> = vec![
            ("grant_type", "refresh_token"),
            ("client_id", client_id),
            ("refresh_token", refresh_token.expose_secret()),
        ];
        if let Some(secret) = client_secret {
            form.push(("client_secret", secret.expose_secret()));
        }
        self.post_token(&form).await
    }

    async fn post_token(&self, form: &[(&str, &str)]) -> Result<TokenSet, TokenEndpointError> {
        let resp = self
            .http
            .post(&self.token_url)
            .timeout(self.timeout)
            .header(reqwest::header::ACCEPT, "application/json")
            .form(form)
            .send()
            .await
            // reqwest errors name the URL, never the form body.
            .map_err(|e| TokenEndpointError::Transport(e.without_url().to_string()))?;
        let status = resp.status();
        let body = resp
            .bytes()
            .await
            .map_err(|e| TokenEndpointError::Transport(e.without_url().to_string()))?;
        if status.is_success() {
            return serde_json::from_slice::<TokenSet>(&body)
                .map_err(|e| TokenEndpointError::InvalidResponse(e.to_string()));
        }
        let parsed: AtlassianErrorBody =
            serde_json::from_slice(&body).unwrap_or(AtlassianErrorBody {
                error: None,
                error_description: None,
            });
        let error = parsed.error.unwrap_or_else(|| "unknown_error".to_owned());
        let description = parsed
            .error_description
            .unwrap_or_else(|| format!("HTTP {}", status.as_u16()));
        Err(classify_token_error(status.as_u16(), error, description))
    }

    /// Every site the access token's grant covers, in Atlassian's (unspecified) order.
    pub async fn accessible_resources(
        &self,
        access_token: &SecretString,
    ) -> Result<Vec<AccessibleResource>, TokenEndpointError> {
        let resp = self
            .http
            .get(&self.resources_url)
            .timeout(self.timeout)
            .bearer_auth(access_token.expose_secret())
            .header(reqwest::header::ACCEPT, "application/json")
            .send()
            .await
            .map_err(|e| TokenEndpointError::Transport(e.without_url().to_string()))?;
        let status = resp.status();
        let body = resp
            .bytes()
            .await
            .map_err(|e| TokenEndpointError::Transport(e.without_url().to_string()))?;
        if !status.is_success() {
            return Err(TokenEndpointError::Rejected {
                status: status.as_u16(),
                error: "accessible_resources".to_owned(),
                description: String::from_utf8_lossy(&body).chars().take(300).collect(),
            });
        }
        serde_json::from_slice(&body)
            .map_err(|e| TokenEndpointError::InvalidResponse(e.to_string()))
    }
}

fn classify_token_error(status: u16, error: String, description: String) -> TokenEndpointError {
    match error.as_str() {
        "invalid_grant" => TokenEndpointError::InvalidGrant { description },
        "access_denied" | "unauthorized_client" | "invalid_client" => {
            TokenEndpointError::BadClient { error, description }
        }
        _ => TokenEndpointError::Rejected {
            status,
            error,
            description,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    #[test]
    fn authorize_url_has_everything_atlassian_needs() {
        let req = build_authorize_url(
            "https://auth.atlassian.com/authorize",
            "cid",
            "https://gw.example/oauth/callback",
            &scopes_with_offline_access(&["read:jira-work".to_owned()]),
        )
        .unwrap();
        let url = url::Url::parse(&req.url).unwrap();
        let q: HashMap<String, String> = url.query_pairs().into_owned().collect();
        assert_eq!(q["audience"], "api.atlassian.com");
        assert_eq!(q["client_id"], "cid");
        assert_eq!(q["scope"], "read:jira-work offline_access");
        assert_eq!(q["redirect_uri"], "https://gw.example/oauth/callback");
        assert_eq!(q["response_type"], "code");
        assert_eq!(q["prompt"], "consent");
        assert_eq!(q["code_challenge_method"], "S256");
        assert_eq!(q["state"], req.state.expose_secret());
        // The challenge is the S256 of the verifier we keep.
        let expected = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .encode(Sha256::digest(req.pkce_verifier.expose_secret().as_bytes()));
        assert_eq!(q["code_challenge"], expected);
    }

    #[test]
    fn states_are_long_random_and_hashed() {
        let a = generate_state();
        let b = generate_state();
        assert_ne!(a.expose_secret(), b.expose_secret());
        // 256 bits base64url without padding = 43 characters (>= 128 bits required).
        assert_eq!(a.expose_secret().len(), 43);
        let h = hash_state(a.expose_secret());
        assert_eq!(h.len(), 64);
        assert_ne!(h, a.expose_secret());
        assert_eq!(h, hash_state(a.expose_secret()));
    }

    #[test]
    fn offline_access_added_once() {
        let s = scopes_with_offline_access(&[
            "read:jira-work offline_access".to_owned(),
            "read:jira-work".to_owned(),
        ]);
        assert_eq!(s, vec!["read:jira-work", "offline_access"]);
    }

    #[test]
    fn token_errors_are_classified() {
        assert!(matches!(
            classify_token_error(403, "invalid_grant".into(), "x".into()),
            TokenEndpointError::InvalidGrant { .. }
        ));
        assert!(matches!(
            classify_token_error(401, "unauthorized_client".into(), "x".into()),
            TokenEndpointError::BadClient { .. }
        ));
        assert!(matches!(
            classify_token_error(500, "server_error".into(), "x".into()),
            TokenEndpointError::Rejected { status: 500, .. }
        ));
    }

    #[test]
    fn token_set_debug_hides_tokens() {
        let t: TokenSet = serde_json::from_str(
            r#"{"access_token":"AT-SECRET","refresh_token":"RT-SECRET","expires_in":3600,"scope":"a b"}"#,
        )
        .unwrap();
        let dbg = format!("{t:?}");
        assert!(!dbg.contains("AT-SECRET") && !dbg.contains("RT-SECRET"));
        assert_eq!(t.scopes(), vec!["a", "b"]);
    }
}
