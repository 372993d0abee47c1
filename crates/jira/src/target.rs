//! Where a request goes and how it authenticates: [`Target`], [`JiraAuth`] and [`TokenSource`].

use std::fmt;

use async_trait::async_trait;
use base64::Engine as _;
use http::HeaderValue;
use secrecy::{ExposeSecret, SecretString};
use zeroize::Zeroizing;

use crate::error::JiraError;

/// Credentials attached to each upstream request.
#[derive(Clone)]
pub enum JiraAuth {
    /// Classic or scoped API token: HTTP Basic `email:token`.
    Basic { email: String, token: SecretString },
    /// OAuth 2.0 (3LO) access token.
    Bearer(SecretString),
}

impl JiraAuth {
    /// The `Authorization` header value, marked sensitive so `http` never prints it.
    ///
    /// The text it is made from is built once, in buffers sized up front, and wiped when dropped
    /// (`Zeroizing`): no copy of the credential is left behind in freed memory, and a call costs
    /// two allocations instead of four.
    pub(crate) fn header_value(&self) -> Result<HeaderValue, JiraError> {
        let raw = match self {
            JiraAuth::Basic { email, token } => {
                let token = token.expose_secret();
                let mut pair = Zeroizing::new(Vec::with_capacity(email.len() + 1 + token.len()));
                pair.extend_from_slice(email.as_bytes());
                pair.push(b':');
                pair.extend_from_slice(token.as_bytes());
                let b64 = base64::engine::general_purpose::STANDARD;
                let mut raw = Zeroizing::new(String::with_capacity(
                    6 + base64::encoded_len(pair.len(), true).unwrap_or(0),
                ));
                raw.push_str("Basic ");
                b64.encode_string(pair.as_slice(), &mut raw);
                raw
            }
            JiraAuth::Bearer(token) => {
                let token = token.expose_secret();
                let mut raw = Zeroizing::new(String::with_capacity(7 + token.len()));
                raw.push_str("Bearer ");
                raw.push_str(token);
                raw
            }
        };
        let mut value = HeaderValue::from_str(&raw).map_err(|_| JiraError::Credential {
            message: "credential contains characters that cannot be sent in an HTTP header"
                .to_owned(),
        })?;
        value.set_sensitive(true);
        Ok(value)
    }

    /// A short non-secret name of the scheme, for logs and hints.
    pub fn scheme(&self) -> &'static str {
        match self {
            JiraAuth::Basic { .. } => "basic",
            JiraAuth::Bearer(_) => "bearer",
        }
    }
}

// Hand-written so a future field can never leak a token through `{:?}`.
impl fmt::Debug for JiraAuth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            JiraAuth::Basic { email, .. } => f
                .debug_struct("Basic")
                .field("email", email)
                .field("token", &"[redacted]")
                .finish(),
            JiraAuth::Bearer(_) => f.debug_tuple("Bearer").field(&"[redacted]").finish(),
        }
    }
}

/// One Jira endpoint plus the credential to use there.
#[derive(Clone, Debug)]
pub struct Target {
    /// No trailing '/': a site URL (`https://acme.atlassian.net`) or `<api>/ex/jira/{cloudId}`.
    pub base_url: String,
    pub auth: JiraAuth,
    /// Identifies the connection for per-connection limits, metrics and error messages.
    pub connection_key: String,
}

impl Target {
    pub fn new(
        base_url: impl Into<String>,
        auth: JiraAuth,
        connection_key: impl Into<String>,
    ) -> Self {
        let mut base_url = base_url.into();
        while base_url.ends_with('/') {
            base_url.pop();
        }
        Target {
            base_url,
            auth,
            connection_key: connection_key.into(),
        }
    }

    /// True when both targets carry the same credential (used to decide whether a refresh
    /// actually produced something new).
    pub fn same_credential(&self, other: &Target) -> bool {
        match (&self.auth, &other.auth) {
            (
                JiraAuth::Basic {
                    email: e1,
                    token: t1,
                },
                JiraAuth::Basic {
                    email: e2,
                    token: t2,
                },
            ) => e1 == e2 && t1.expose_secret() == t2.expose_secret(),
            (JiraAuth::Bearer(a), JiraAuth::Bearer(b)) => a.expose_secret() == b.expose_secret(),
            _ => false,
        }
    }
}

/// Supplies the current [`Target`] of a connection and reacts to a rejected credential.
#[async_trait]
pub trait TokenSource: Send + Sync {
    async fn target(&self) -> Result<Target, JiraError>;
    /// Called once after a 401 with the target that failed; refresh only if still current;
    /// `None` = no refresh possible.
    async fn on_unauthorized(&self, failed: &Target) -> Result<Option<Target>, JiraError>;
}

/// A fixed credential (API tokens): nothing to refresh.
#[derive(Clone, Debug)]
pub struct StaticTokenSource(pub Target);

#[async_trait]
impl TokenSource for StaticTokenSource {
    async fn target(&self) -> Result<Target, JiraError> {
        Ok(self.0.clone())
    }

    async fn on_unauthorized(&self, _failed: &Target) -> Result<Option<Target>, JiraError> {
        Ok(None)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 7617's example pair, and a bearer token: the values are exactly the schemes' text,
    /// and marked sensitive.
    #[test]
    fn header_values_are_the_schemes_text() {
        let basic = JiraAuth::Basic {
            email: "Aladdin".into(),
            token: SecretString::from("open sesame"),
        }
        .header_value()
        .unwrap();
        assert_eq!(basic, "Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ==");
        assert!(basic.is_sensitive());
        let bearer = JiraAuth::Bearer(SecretString::from("tok-123"))
            .header_value()
            .unwrap();
        assert_eq!(bearer, "Bearer tok-123");
        assert!(bearer.is_sensitive());
        assert!(
            JiraAuth::Bearer(SecretString::from("a\nb"))
                .header_value()
                .is_err(),
            "a line break cannot be sent"
        );
    }
}
