//! The one error type of the client, and the mapping from a non-2xx Jira answer to it.

use std::collections::BTreeMap;
use std::time::Duration;

use http::{HeaderMap, StatusCode};
use serde_json::Value;

/// Everything that can go wrong talking to Jira. Never carries a secret: only statuses,
/// Jira's own messages, the request id and the connection key.
#[derive(Debug, Clone, thiserror::Error)]
pub enum JiraError {
    #[error("{}", upstream_display(*status, messages, field_errors, request_id.as_deref(), hint.as_deref(), connection))]
    Upstream {
        status: u16,
        messages: Vec<String>,
        field_errors: BTreeMap<String, String>,
        request_id: Option<String>,
        hint: Option<String>,
        connection: String,
    },
    /// Jira rejected the credential even after the one forced refresh.
    #[error("connection {connection}: Jira rejected the credential (401); {hint}")]
    Unauthorized { connection: String, hint: String },
    /// The token source cannot produce a usable credential without a person re-consenting.
    #[error("connection {connection} needs to be re-authorized: {reason}")]
    NeedsReauth { connection: String, reason: String },
    #[error("{}", missing_scope_display(connection, scope))]
    MissingScope { connection: String, scope: String },
    /// The budget of rate-limit waits (retries or deadline) is exhausted.
    #[error("connection {connection}: Jira rate limit hit; retry after {} s", retry_after.as_secs_f64().ceil())]
    RateLimited {
        connection: String,
        retry_after: Duration,
    },
    #[error("connection {connection}: Jira did not answer within the deadline")]
    Timeout { connection: String },
    /// Shed before anything was sent: the connection's slots are busy and enough requests
    /// already wait for them (or this one waited too long).
    #[error(
        "connection {connection} is at capacity ({slots} requests in flight, {waiting} waiting); nothing was sent to Jira; retry after {} s",
        retry_after.as_secs_f64().ceil()
    )]
    Overloaded {
        connection: String,
        waiting: usize,
        slots: usize,
        retry_after: Duration,
    },
    #[error("connection {connection}: could not reach Jira: {message}")]
    Transport { connection: String, message: String },
    #[error("Jira sent a response we could not understand: {message}")]
    InvalidResponse { message: String },
    #[error("credential problem: {message}")]
    Credential { message: String },
    /// The request was refused before anything was sent: its URL would leave the connection's
    /// base, or its input is malformed.
    #[error("invalid {field}: {message}")]
    InvalidRequest { field: String, message: String },
}

impl From<crate::upstream::UpstreamError> for JiraError {
    fn from(e: crate::upstream::UpstreamError) -> Self {
        JiraError::InvalidRequest {
            field: e.field.to_owned(),
            message: e.message,
        }
    }
}

/// What [`JiraError::MissingScope`] carries when Jira said "scope does not match" without
/// naming the scope.
pub const UNNAMED_SCOPE: &str = "unnamed";

fn missing_scope_display(connection: &str, scope: &str) -> String {
    if scope == UNNAMED_SCOPE {
        format!(
            "connection {connection}: the token's OAuth scopes do not cover this operation \
             (Jira did not name the scope); re-authorize the connection with the scopes the action lists"
        )
    } else {
        format!(
            "connection {connection}: missing OAuth scope {scope}; re-authorize the connection including it"
        )
    }
}

fn upstream_display(
    status: u16,
    messages: &[String],
    field_errors: &BTreeMap<String, String>,
    request_id: Option<&str>,
    hint: Option<&str>,
    connection: &str,
) -> String {
    let mut out = format!("connection {connection}: Jira answered {status}");
    let mut details: Vec<String> = messages.to_vec();
    details.extend(field_errors.iter().map(|(k, v)| format!("{k}: {v}")));
    if !details.is_empty() {
        out.push_str(": ");
        out.push_str(&details.join("; "));
    }
    if let Some(hint) = hint {
        out.push_str(" (");
        out.push_str(hint);
        out.push(')');
    }
    if let Some(id) = request_id {
        out.push_str(" [request id ");
        out.push_str(id);
        out.push(']');
    }
    out
}

impl JiraError {
    /// A stable machine-readable name of the variant.
    pub fn kind(&self) -> &'static str {
        match self {
            JiraError::Upstream { .. } => "upstream",
            JiraError::Unauthorized { .. } => "unauthorized",
            JiraError::NeedsReauth { .. } => "needs_reauth",
            JiraError::MissingScope { .. } => "missing_scope",
            JiraError::RateLimited { .. } => "rate_limited",
            JiraError::Timeout { .. } => "timeout",
            JiraError::Overloaded { .. } => "overloaded",
            JiraError::Transport { .. } => "transport",
            JiraError::InvalidResponse { .. } => "invalid_response",
            JiraError::Credential { .. } => "credential",
            JiraError::InvalidRequest { .. } => "invalid_request",
        }
    }

    /// The HTTP status Jira answered with, when the error came from an answer.
    pub fn status(&self) -> Option<u16> {
        match self {
            JiraError::Upstream { status, .. } => Some(*status),
            JiraError::Unauthorized { .. } => Some(401),
            JiraError::RateLimited { .. } => Some(429),
            _ => None,
        }
    }

    /// Jira's request id (`X-AREQUESTID`) when known.
    pub fn request_id(&self) -> Option<&str> {
        match self {
            JiraError::Upstream { request_id, .. } => request_id.as_deref(),
            _ => None,
        }
    }
}

/// Jira's error body: `{"errorMessages": [...], "errors": {...}}`, plus the shapes the API
/// gateway (`message`), service management (`errorMessage`) and OAuth (`error_description`) use.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct ErrorBody {
    pub messages: Vec<String>,
    pub field_errors: BTreeMap<String, String>,
}

impl ErrorBody {
    pub fn parse(body: &[u8]) -> ErrorBody {
        let mut out = ErrorBody::default();
        match serde_json::from_slice::<Value>(body) {
            Ok(Value::Object(map)) => {
                if let Some(Value::Array(list)) = map.get("errorMessages") {
                    out.messages
                        .extend(list.iter().map(value_text).filter(|m| !m.is_empty()));
                }
                if let Some(Value::Object(fields)) = map.get("errors") {
                    for (k, v) in fields {
                        out.field_errors.insert(k.clone(), value_text(v));
                    }
                }
                for key in ["errorMessage", "message", "error_description"] {
                    if let Some(Value::String(s)) = map.get(key)
                        && !s.is_empty()
                        && !out.messages.contains(s)
                    {
                        out.messages.push(s.clone());
                    }
                }
                if out.messages.is_empty()
                    && out.field_errors.is_empty()
                    && let Some(Value::String(s)) = map.get("error")
                {
                    out.messages.push(s.clone());
                }
            }
            Ok(_) | Err(_) => {
                // Not JSON (an HTML error page from a proxy, plain text): keep a short excerpt.
                let text = String::from_utf8_lossy(body);
                let text = text.trim();
                if !text.is_empty() {
                    out.messages.push(truncate(text, 300));
                }
            }
        }
        out
    }

    fn all_text(&self) -> String {
        let mut s = self.messages.join(" ");
        for v in self.field_errors.values() {
            s.push(' ');
            s.push_str(v);
        }
        s
    }
}

fn value_text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

fn truncate(s: &str, max_chars: usize) -> String {
    if s.chars().count() <= max_chars {
        s.to_owned()
    } else {
        let mut t: String = s.chars().take(max_chars).collect();
        t.push('…');
        t
    }
}

/// True when Jira's message says the token's OAuth scopes do not cover the operation.
pub(crate) fn mentions_scope_problem(text: &str) -> bool {
    let lower = text.to_ascii_lowercase();
    lower.contains("scope does not match")
        || lower.contains("scopes does not match")
        || lower.contains("required scope")
        || lower.contains("missing scope")
        || lower.contains("insufficient scope")
        || lower.contains("insufficient_scope")
}

/// Pulls scope names such as `read:jira-work` or `read:issue-details:jira` out of a message.
pub(crate) fn scopes_in(text: &str) -> Vec<String> {
    const VERBS: [&str; 5] = ["read:", "write:", "manage:", "delete:", "admin:"];
    let mut found = Vec::new();
    for word in text.split(|c: char| {
        c.is_whitespace() || matches!(c, ',' | '"' | '\'' | '[' | ']' | '(' | ')' | '`')
    }) {
        let word = word.trim_end_matches(['.', ';']);
        let valid = word
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, ':' | '-' | '_' | '.'));
        if valid
            && VERBS
                .iter()
                .any(|v| word.starts_with(v) && word.len() > v.len())
            && !found.iter().any(|f: &String| f == word)
        {
            found.push(word.to_owned());
        }
    }
    found
}

/// The request id Atlassian puts on every answer.
pub(crate) fn request_id(headers: &HeaderMap) -> Option<String> {
    headers
        .get("x-arequestid")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
}

/// Hint for a 401 that survived the one refresh.
pub(crate) fn unauthorized_hint(scheme: &str) -> String {
    match scheme {
        "bearer" => "re-authorize the connection (the OAuth grant was revoked or expired)".to_owned(),
        _ => "check the API token and email (API tokens can be revoked and expire after at most a year)".to_owned(),
    }
}

/// Maps a final non-2xx answer (other than 401 and 429, which the client handles) to an error.
pub(crate) fn from_status(
    status: StatusCode,
    headers: &HeaderMap,
    body: &[u8],
    connection: &str,
    path: &str,
) -> JiraError {
    let parsed = ErrorBody::parse(body);
    let text = parsed.all_text();
    if matches!(status.as_u16(), 401 | 403) && mentions_scope_problem(&text) {
        let scope = scopes_in(&text)
            .into_iter()
            .next()
            .unwrap_or_else(|| UNNAMED_SCOPE.to_owned());
        return JiraError::MissingScope {
            connection: connection.to_owned(),
            scope,
        };
    }
    let hint = hint_for(status, path);
    JiraError::Upstream {
        status: status.as_u16(),
        messages: parsed.messages,
        field_errors: parsed.field_errors,
        request_id: request_id(headers),
        hint,
        connection: connection.to_owned(),
    }
}

fn hint_for(status: StatusCode, path: &str) -> Option<String> {
    let path = path.split('?').next().unwrap_or(path);
    let hint = match status.as_u16() {
        400 => "Jira rejected the request; the messages above name the parameter or field",
        401 => "re-authorize the connection or check the API token",
        403 => {
            "the account behind this connection lacks the Jira permission for this operation (project role, issue security or global permission)"
        }
        404 => {
            "issue key wrong or no permission to see it: check the key or id and that the connection's account can browse the project"
        }
        405 => "this operation does not accept that HTTP method",
        409 => "the resource changed or already exists; re-read it and try again",
        410 if path.ends_with("/rest/api/3/search") || path.ends_with("/rest/api/2/search") => {
            "this search endpoint was removed by Atlassian; use /rest/api/3/search/jql (nextPageToken paging)"
        }
        410 => "Atlassian removed this endpoint; see the API changelog for its replacement",
        413 => "the request body is too large for Jira",
        415 => "Jira does not accept this content type for this operation",
        s if s >= 500 => "Jira had an internal problem; try again later",
        _ => return None,
    };
    Some(hint.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_jira_error_body() {
        let b =
            br#"{"errorMessages":["Issue does not exist"],"errors":{"summary":"required","n":5}}"#;
        let e = ErrorBody::parse(b);
        assert_eq!(e.messages, vec!["Issue does not exist"]);
        assert_eq!(e.field_errors["summary"], "required");
        assert_eq!(e.field_errors["n"], "5");
    }

    #[test]
    fn parses_gateway_and_plain_bodies() {
        let e = ErrorBody::parse(br#"{"code":401,"message":"Unauthorized; scope does not match"}"#);
        assert_eq!(e.messages, vec!["Unauthorized; scope does not match"]);
        let e = ErrorBody::parse(b"<html>bad gateway</html>");
        assert_eq!(e.messages, vec!["<html>bad gateway</html>"]);
        assert!(ErrorBody::parse(b"").messages.is_empty());
    }

    #[test]
    fn finds_scope_names() {
        assert_eq!(
            scopes_in(
                "scope does not match; required scopes: [read:jira-work, read:issue-details:jira]."
            ),
            vec!["read:jira-work", "read:issue-details:jira"]
        );
        assert!(scopes_in("nothing here: at all").is_empty());
    }

    #[test]
    fn maps_statuses_to_hints() {
        let h = HeaderMap::new();
        let e = from_status(
            StatusCode::NOT_FOUND,
            &h,
            b"{}",
            "c1",
            "/rest/api/3/issue/X-1",
        );
        assert!(e.to_string().contains("issue key wrong or no permission"));
        let e = from_status(
            StatusCode::GONE,
            &h,
            b"{}",
            "c1",
            "/rest/api/3/search?jql=x",
        );
        assert!(e.to_string().contains("search/jql"), "{e}");
        let e = from_status(
            StatusCode::FORBIDDEN,
            &h,
            br#"{"message":"scope does not match, required: write:jira-work"}"#,
            "c1",
            "/x",
        );
        match e {
            JiraError::MissingScope { scope, .. } => assert_eq!(scope, "write:jira-work"),
            other => panic!("unexpected {other:?}"),
        }
    }
}
