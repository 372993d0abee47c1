//! The console session: its cookie, and the extractor that turns it into the signed-in key.

use axum::extract::{FromRequestParts, OriginalUri};
use axum::http::request::Parts;
use axum::http::{HeaderMap, header};
use axum::response::{IntoResponse, Redirect, Response};
use cookie::{Cookie, SameSite};
use jiragate_engine::Actor;
use jiragate_engine::model::{ApiKeyRecord, OrgId};
use sha2::{Digest, Sha256};

use crate::Console;

/// The session cookie's name: `__Host-` prefixed when Secure, so no subdomain can set it.
pub(crate) fn session_cookie_name(secure: bool) -> &'static str {
    if secure {
        "__Host-jiragate_session"
    } else {
        "jiragate_session"
    }
}

/// The short-lived cookie that ties the sign-in form to the browser that loaded it.
pub(crate) fn sign_in_cookie_name(secure: bool) -> &'static str {
    if secure {
        "__Host-jiragate_signin"
    } else {
        "jiragate_signin"
    }
}

/// The value of the cookie `name` in the request, if any.
pub(crate) fn cookie_value(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(Cookie::split_parse)
        .filter_map(Result::ok)
        .find(|c| c.name() == name)
        .map(|c| c.value().to_owned())
}

/// A `Set-Cookie` value: HttpOnly, SameSite=Strict, path `/`, Secure on https.
pub(crate) fn set_cookie(name: &str, value: &str, secure: bool, max_age_secs: i64) -> String {
    let mut c = Cookie::new(name.to_owned(), value.to_owned());
    c.set_http_only(true);
    c.set_same_site(SameSite::Strict);
    c.set_path("/");
    c.set_secure(secure);
    c.set_max_age(time::Duration::seconds(max_age_secs));
    c.encoded().to_string()
}

/// The CSRF token of a session: derived from the session token (which only the browser's
/// HttpOnly cookie holds), so it needs no storage and dies with the session.
pub(crate) fn csrf_for(session_token: &str) -> String {
    let mut h = Sha256::new();
    h.update(b"jiragate console csrf v1\0");
    h.update(session_token.as_bytes());
    hex::encode(h.finalize())
}

/// The signed-in key, with what pages need to render forms.
pub(crate) struct SignedIn {
    pub key: ApiKeyRecord,
    pub csrf: String,
}

impl SignedIn {
    pub fn actor(&self) -> Actor<'_> {
        Actor::Key(&self.key)
    }

    pub fn org(&self) -> &OrgId {
        &self.key.org_id
    }
}

impl FromRequestParts<Console> for SignedIn {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, st: &Console) -> Result<Self, Response> {
        let token = cookie_value(&parts.headers, session_cookie_name(st.secure));
        let next = parts
            .extensions
            .get::<OriginalUri>()
            .map(|u| u.0.path().to_owned())
            .unwrap_or_else(|| parts.uri.path().to_owned());
        let sign_in = || {
            let target = if next.starts_with("/console") && next != "/console/sign-out" {
                format!("/console/sign-in?next={}", url_encode(&next))
            } else {
                "/console/sign-in".to_owned()
            };
            Redirect::to(&target).into_response()
        };
        let Some(token) = token else {
            return Err(sign_in());
        };
        match st.engine.console_session(&token).await {
            Ok(key) => Ok(SignedIn {
                csrf: csrf_for(&token),
                key,
            }),
            Err(jiragate_engine::EngineError::Unauthorized) => Err(sign_in()),
            Err(e) => Err(crate::render::error_page(st, None, &e)),
        }
    }
}

pub(crate) fn url_encode(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}
