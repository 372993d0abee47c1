//! Authentication: the OAuth 2.0 (3LO) endpoints and the checks on API requests.

pub mod authorize;
pub mod token;

use base64::Engine;
use http::{HeaderMap, StatusCode, header};

use crate::call::Caller;
use crate::reply::Reply;
use crate::routes::OpSpec;
use crate::routes_table::KNOWN_SCOPES;
use crate::state::SimState;

/// Credentials as presented in the `Authorization` header.
pub enum Presented {
    Basic { email: String, token: String },
    Bearer(String),
    Missing,
    Malformed,
}

pub fn presented(headers: &HeaderMap) -> Presented {
    let Some(value) = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
    else {
        return Presented::Missing;
    };
    let (scheme, rest) = value.trim().split_once(' ').unwrap_or((value, ""));
    if scheme.eq_ignore_ascii_case("bearer") {
        return Presented::Bearer(rest.trim().to_owned());
    }
    if scheme.eq_ignore_ascii_case("basic") {
        let decoded = base64::engine::general_purpose::STANDARD
            .decode(rest.trim())
            .ok()
            .and_then(|b| String::from_utf8(b).ok());
        if let Some((email, token)) = decoded.as_deref().and_then(|d| d.split_once(':')) {
            return Presented::Basic {
                email: email.to_owned(),
                token: token.to_owned(),
            };
        }
    }
    Presented::Malformed
}

fn site_unauthorized() -> Reply {
    Reply::jira_error(
        StatusCode::UNAUTHORIZED,
        &["Client must be authenticated to access this resource."],
        &[],
    )
    .with_header(
        http::HeaderName::from_static("x-seraph-loginreason"),
        "AUTHENTICATED_FAILED",
    )
    .with_header(header::WWW_AUTHENTICATE, "Basic realm=\"protected-area\"")
}

/// `<site>.atlassian.net`: classic API tokens with Basic. OAuth bearer tokens are refused.
pub fn authenticate_site(
    state: &SimState,
    site: usize,
    presented: &Presented,
) -> Result<Caller, Reply> {
    match presented {
        Presented::Basic { email, token } => {
            let auth = state.auth.lock();
            let user = state
                .user_by_email(email)
                .filter(|u| &u.api_token == token && !auth.revoked_api_tokens.contains(token))
                .ok_or_else(site_unauthorized)?;
            if !auth.user_can_use_site(user.index, site) {
                return Err(Reply::jira_error(
                    StatusCode::FORBIDDEN,
                    &["You do not have permission to access this site."],
                    &[],
                ));
            }
            Ok(Caller {
                user: user.index,
                scopes: None,
                credential: format!("api-token:{}", user.index),
            })
        }
        // Jira does not accept 3LO access tokens on the site host.
        Presented::Bearer(_) => Err(Reply::jira_error(
            StatusCode::UNAUTHORIZED,
            &["Failed to parse Connect Session Auth Token"],
            &[],
        )
        .with_header(header::WWW_AUTHENTICATE, "Basic realm=\"protected-area\"")),
        Presented::Missing | Presented::Malformed => Err(site_unauthorized()),
    }
}

fn gateway_unauthorized() -> Reply {
    Reply::gateway_error(StatusCode::UNAUTHORIZED, "Unauthorized").with_header(
        header::WWW_AUTHENTICATE,
        "Bearer realm=\"api.atlassian.com\"",
    )
}

/// `api.atlassian.com/ex/jira/{cloudId}`: 3LO bearer tokens or Basic with a scoped API token.
pub fn authenticate_gateway(
    state: &SimState,
    site: usize,
    presented: &Presented,
) -> Result<Caller, Reply> {
    let now = state.clock.now_secs();
    match presented {
        Presented::Bearer(token) => {
            let auth = state.auth.lock();
            let rec = auth.access.get(token).ok_or_else(gateway_unauthorized)?;
            let grant = auth
                .grants
                .get(&rec.family)
                .ok_or_else(gateway_unauthorized)?;
            if grant.revoked || now >= rec.expires_at {
                return Err(gateway_unauthorized());
            }
            if !grant.sites.contains(&site) {
                return Err(Reply::gateway_error(StatusCode::NOT_FOUND, "Not Found"));
            }
            if !auth.user_can_use_site(grant.user, site) {
                return Err(gateway_unauthorized());
            }
            Ok(Caller {
                user: grant.user,
                scopes: Some(grant.scopes.clone()),
                credential: format!("oauth:{}", rec.family),
            })
        }
        Presented::Basic { email, token } => {
            let auth = state.auth.lock();
            let user = state
                .user_by_email(email)
                .filter(|u| {
                    &u.scoped_api_token == token && !auth.revoked_api_tokens.contains(token)
                })
                .ok_or_else(gateway_unauthorized)?;
            if !auth.user_can_use_site(user.index, site) {
                return Err(gateway_unauthorized());
            }
            Ok(Caller {
                user: user.index,
                scopes: Some(scoped_token_scopes()),
                credential: format!("scoped-token:{}", user.index),
            })
        }
        Presented::Missing | Presented::Malformed => Err(gateway_unauthorized()),
    }
}

/// Seeded scoped API tokens carry every scope except offline_access.
pub fn scoped_token_scopes() -> Vec<String> {
    KNOWN_SCOPES
        .iter()
        .filter(|s| **s != "offline_access")
        .map(|s| (*s).to_owned())
        .collect()
}

/// 403 unless the granted scopes cover one of the operation's scope sets.
pub fn check_scopes(op: &OpSpec, granted: &[String]) -> Result<(), Reply> {
    let alts = op.scope_alternatives();
    if alts.is_empty()
        || alts
            .iter()
            .any(|set| set.iter().all(|s| granted.iter().any(|g| g == s)))
    {
        return Ok(());
    }
    Err(Reply::gateway_error(
        StatusCode::FORBIDDEN,
        "Unauthorized; scope does not match",
    ))
}
