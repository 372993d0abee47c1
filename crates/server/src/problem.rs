//! RFC 9457 problem details: the one error shape of the HTTP API.
//!
//! Every failure leaves the server as `application/problem+json` with a stable `type` URI, a short
//! `title`, the HTTP `status`, a human `detail` and optional extension members. Details are built
//! from error values that never carry secrets (see the engine's error types), and internal errors
//! are reduced to a generic message so no stack trace or driver text reaches a client.

use std::time::Duration;

use axum::Json;
use axum::extract::rejection::{JsonRejection, PathRejection, QueryRejection};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use jiragate_engine::EngineError;
use serde::Serialize;
use serde_json::{Map, Value};
use utoipa::ToSchema;

/// Base of every problem `type` URI.
pub const PROBLEM_BASE: &str = "https://jiragate.dev/problems/";
/// Media type of problem responses.
pub const PROBLEM_CONTENT_TYPE: &str = "application/problem+json";

/// The stable problem kinds. The `type` URI is `PROBLEM_BASE + kind.slug()`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProblemKind {
    Validation,
    NotFound,
    Unauthorized,
    Forbidden,
    Conflict,
    /// Bring-your-own OAuth tokens were refreshed; the site is chosen through a connect session.
    SiteChoiceRequired,
    UpstreamError,
    /// Jira refused the caller's request with a 4xx (invalid JQL, bad page token …).
    UpstreamRejected,
    /// Jira could not be reached.
    UpstreamUnavailable,
    /// Jira did not answer in time.
    UpstreamTimeout,
    /// jiragate's own key or credential handling failed; Jira was not called.
    CredentialUnavailable,
    NeedsReauth,
    MissingScope,
    RateLimited,
    /// jiragate shed the request (the connection is at capacity); Jira was not called.
    Overloaded,
    PayloadTooLarge,
    /// The request URI is longer than the server reads.
    UriTooLong,
    /// The request head has too many or too large headers.
    HeadersTooLarge,
    MethodNotAllowed,
    UnsupportedMediaType,
    Timeout,
    Unavailable,
    /// The operator's configuration is wrong.
    Config,
    Internal,
}

impl ProblemKind {
    pub fn slug(self) -> &'static str {
        match self {
            ProblemKind::Validation => "validation",
            ProblemKind::NotFound => "not_found",
            ProblemKind::Unauthorized => "unauthorized",
            ProblemKind::Forbidden => "forbidden",
            ProblemKind::Conflict => "conflict",
            ProblemKind::SiteChoiceRequired => "site_choice_required",
            ProblemKind::UpstreamError => "upstream_error",
            ProblemKind::UpstreamRejected => "upstream_rejected",
            ProblemKind::UpstreamUnavailable => "upstream_unavailable",
            ProblemKind::UpstreamTimeout => "upstream_timeout",
            ProblemKind::CredentialUnavailable => "credential_unavailable",
            ProblemKind::NeedsReauth => "needs_reauth",
            ProblemKind::MissingScope => "missing_scope",
            ProblemKind::RateLimited => "rate_limited",
            ProblemKind::Overloaded => "overloaded",
            ProblemKind::PayloadTooLarge => "payload_too_large",
            ProblemKind::UriTooLong => "uri_too_long",
            ProblemKind::HeadersTooLarge => "request_header_fields_too_large",
            ProblemKind::MethodNotAllowed => "method_not_allowed",
            ProblemKind::UnsupportedMediaType => "unsupported_media_type",
            ProblemKind::Timeout => "timeout",
            ProblemKind::Unavailable => "unavailable",
            ProblemKind::Config => "config",
            ProblemKind::Internal => "internal",
        }
    }

    pub fn title(self) -> &'static str {
        match self {
            ProblemKind::Validation => "The request is not valid",
            ProblemKind::NotFound => "Not found",
            ProblemKind::Unauthorized => "Authentication required",
            ProblemKind::Forbidden => "Not allowed",
            ProblemKind::Conflict => "Conflict",
            ProblemKind::SiteChoiceRequired => "Choose the site to finish the connection",
            ProblemKind::UpstreamError => "Jira returned an error",
            ProblemKind::UpstreamRejected => "Jira refused the request",
            ProblemKind::UpstreamUnavailable => "Jira could not be reached",
            ProblemKind::UpstreamTimeout => "Jira did not answer in time",
            ProblemKind::CredentialUnavailable => "The connection's credential could not be used",
            ProblemKind::NeedsReauth => "The connection needs to be re-authorized",
            ProblemKind::MissingScope => "The connection lacks a required scope",
            ProblemKind::RateLimited => "Too many requests",
            ProblemKind::Overloaded => "Connection at capacity",
            ProblemKind::PayloadTooLarge => "Request body too large",
            ProblemKind::UriTooLong => "Request URI too long",
            ProblemKind::HeadersTooLarge => "Request headers too large",
            ProblemKind::MethodNotAllowed => "Method not allowed",
            ProblemKind::UnsupportedMediaType => "Unsupported media type",
            ProblemKind::Timeout => "The request took too long",
            ProblemKind::Unavailable => "Service unavailable",
            ProblemKind::Config => "Server configuration problem",
            ProblemKind::Internal => "Internal error",
        }
    }

    pub fn default_status(self) -> StatusCode {
        match self {
            ProblemKind::Validation => StatusCode::UNPROCESSABLE_ENTITY,
            ProblemKind::NotFound => StatusCode::NOT_FOUND,
            ProblemKind::Unauthorized => StatusCode::UNAUTHORIZED,
            ProblemKind::Forbidden => StatusCode::FORBIDDEN,
            ProblemKind::Conflict => StatusCode::CONFLICT,
            ProblemKind::SiteChoiceRequired => StatusCode::UNPROCESSABLE_ENTITY,
            ProblemKind::UpstreamError => StatusCode::BAD_GATEWAY,
            ProblemKind::UpstreamRejected => StatusCode::BAD_REQUEST,
            ProblemKind::UpstreamUnavailable => StatusCode::SERVICE_UNAVAILABLE,
            ProblemKind::UpstreamTimeout => StatusCode::GATEWAY_TIMEOUT,
            ProblemKind::CredentialUnavailable => StatusCode::INTERNAL_SERVER_ERROR,
            ProblemKind::NeedsReauth => StatusCode::CONFLICT,
            ProblemKind::MissingScope => StatusCode::FORBIDDEN,
            ProblemKind::RateLimited => StatusCode::TOO_MANY_REQUESTS,
            ProblemKind::Overloaded => StatusCode::SERVICE_UNAVAILABLE,
            ProblemKind::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            ProblemKind::UriTooLong => StatusCode::URI_TOO_LONG,
            ProblemKind::HeadersTooLarge => StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            ProblemKind::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            ProblemKind::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ProblemKind::Timeout => StatusCode::GATEWAY_TIMEOUT,
            ProblemKind::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
            ProblemKind::Config | ProblemKind::Internal => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    pub fn type_uri(self) -> String {
        format!("{PROBLEM_BASE}{}", self.slug())
    }
}

/// A problem details document (RFC 9457) plus the response headers that go with it.
#[derive(Debug, Clone)]
pub struct Problem {
    pub kind: ProblemKind,
    pub status: StatusCode,
    pub detail: String,
    pub extensions: Box<Map<String, Value>>,
    pub retry_after: Option<Duration>,
    pub www_authenticate: Option<&'static str>,
}

/// The JSON body of every error response (documented in the OpenAPI document).
#[derive(Debug, Serialize, ToSchema)]
pub struct ProblemBody {
    /// Stable URI naming the kind of problem, e.g. `https://jiragate.dev/problems/validation`.
    #[serde(rename = "type")]
    pub type_uri: String,
    pub title: String,
    pub status: u16,
    pub detail: String,
    /// Extension members (e.g. `field`, `scope`, `upstream_status`, `messages`, `request_id`).
    #[serde(flatten)]
    #[schema(value_type = Object)]
    pub extensions: Map<String, Value>,
}

/// Longest `detail` a problem carries. Messages quote at most ~200 characters of any input
/// (`jiragate_engine::quote`); this bound catches any path that forgot to, so a 1 MB argument
/// never comes back as a 1 MB error.
pub const MAX_DETAIL_CHARS: usize = 2000;

fn bounded_detail(detail: String) -> String {
    if detail.chars().count() <= MAX_DETAIL_CHARS {
        return detail;
    }
    let mut cut: String = detail.chars().take(MAX_DETAIL_CHARS).collect();
    cut.push_str("… (truncated)");
    cut
}

impl Problem {
    pub fn new(kind: ProblemKind, detail: impl Into<String>) -> Self {
        Problem {
            kind,
            status: kind.default_status(),
            detail: bounded_detail(detail.into()),
            extensions: Box::default(),
            retry_after: None,
            www_authenticate: None,
        }
    }

    pub fn with_status(mut self, status: StatusCode) -> Self {
        self.status = status;
        self
    }

    pub fn with(mut self, key: &str, value: impl Into<Value>) -> Self {
        self.extensions.insert(key.to_owned(), value.into());
        self
    }

    pub fn validation(field: impl Into<String>, message: impl Into<String>) -> Self {
        let field = field.into();
        let message = message.into();
        let detail = if field.is_empty() {
            message.clone()
        } else {
            format!("{field}: {message}")
        };
        Problem::new(ProblemKind::Validation, detail).with("field", field)
    }

    pub fn not_found(what: &str, id: impl std::fmt::Display) -> Self {
        let id = jiragate_engine::quote(&id.to_string());
        Problem::new(ProblemKind::NotFound, format!("{what} {id} does not exist"))
            .with("what", what)
    }

    pub fn unauthorized(detail: impl Into<String>) -> Self {
        let mut p = Problem::new(ProblemKind::Unauthorized, detail);
        p.www_authenticate = Some("Bearer realm=\"jiragate\"");
        p
    }

    pub fn forbidden(detail: impl Into<String>) -> Self {
        Problem::new(ProblemKind::Forbidden, detail)
    }

    /// The API key lacks a scope the route needs (403, not 401: the caller is known).
    pub fn key_scope(scope: &str) -> Self {
        Problem::new(
            ProblemKind::Forbidden,
            format!("this API key lacks the `{scope}` scope"),
        )
        .with("required_scope", scope)
    }

    pub fn rate_limited(retry_after: Duration, detail: impl Into<String>) -> Self {
        let secs = retry_after.as_secs_f64().ceil().max(1.0) as u64;
        let mut p = Problem::new(ProblemKind::RateLimited, detail).with("retry_after", secs);
        p.retry_after = Some(Duration::from_secs(secs));
        p
    }

    pub fn internal() -> Self {
        Problem::new(
            ProblemKind::Internal,
            "an internal error occurred; the server log has the details under this request's id",
        )
    }

    pub fn body(&self) -> ProblemBody {
        ProblemBody {
            type_uri: self.kind.type_uri(),
            title: self.kind.title().to_owned(),
            status: self.status.as_u16(),
            detail: self.detail.clone(),
            extensions: (*self.extensions).clone(),
        }
    }
}

impl IntoResponse for Problem {
    fn into_response(self) -> Response {
        if self.kind == ProblemKind::Internal {
            tracing::error!(detail = %self.detail, "internal error answered with a problem 500");
        }
        let mut resp = (self.status, Json(self.body())).into_response();
        resp.extensions_mut().insert(self.kind);
        let h = resp.headers_mut();
        h.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static(PROBLEM_CONTENT_TYPE),
        );
        if let Some(wait) = self.retry_after
            && let Ok(v) = HeaderValue::from_str(&wait.as_secs().to_string())
        {
            h.insert(header::RETRY_AFTER, v);
        }
        if let Some(challenge) = self.www_authenticate {
            h.insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static(challenge),
            );
        }
        resp
    }
}

impl From<EngineError> for Problem {
    fn from(err: EngineError) -> Self {
        problem_from_engine(err)
    }
}

fn problem_from_engine(err: EngineError) -> Problem {
    let detail = err.to_string();
    let status = StatusCode::from_u16(err.http_status()).unwrap_or(StatusCode::BAD_GATEWAY);
    match err {
        EngineError::NotFound { what, id } => Problem::new(ProblemKind::NotFound, detail)
            .with("what", what.to_string())
            .with("id", id.to_string()),
        EngineError::Validation { field, message } => Problem::new(ProblemKind::Validation, detail)
            .with_status(status)
            .with("field", field.to_string())
            .with("message", message.to_string()),
        EngineError::Unauthorized => Problem::unauthorized(detail),
        EngineError::Forbidden { needed } => {
            Problem::forbidden(detail).with("required_scope", needed.to_string())
        }
        EngineError::KeyScope { scope } => Problem::key_scope(scope),
        EngineError::NotAllowed { .. } => Problem::forbidden(detail),
        EngineError::Conflict { .. } => Problem::new(ProblemKind::Conflict, detail),
        EngineError::SiteChoiceRequired {
            session_id,
            sites,
            expires_at,
            ..
        } => {
            let path = format!("/api/v1/connect/sessions/{session_id}/site");
            let cli = format!("jiragate connect --session {session_id} --site <subdomain>");
            Problem::new(ProblemKind::SiteChoiceRequired, detail)
                .with_status(status)
                .with("session_id", session_id)
                .with(
                    "sites",
                    serde_json::to_value(&sites).unwrap_or(Value::Array(Vec::new())),
                )
                .with(
                    "expires_at",
                    expires_at
                        .format(&time::format_description::well_known::Rfc3339)
                        .unwrap_or_default(),
                )
                .with(
                    "continue",
                    serde_json::json!({
                        "method": "POST",
                        "path": path,
                        "body": {"cloud_id": "<cloud id, subdomain or site URL>"},
                        "cli": cli,
                    }),
                )
        }
        EngineError::NeedsReauth { connection, .. } => {
            Problem::new(ProblemKind::NeedsReauth, detail)
                .with_status(status)
                .with("connection", connection.to_string())
        }
        EngineError::MissingScope { scope, action } => {
            Problem::new(ProblemKind::MissingScope, detail)
                .with_status(status)
                .with("scope", scope.to_string())
                .with("action", action.to_string())
        }
        EngineError::RateLimited { retry_after_secs } => {
            Problem::rate_limited(Duration::from_secs(retry_after_secs), detail).with_status(status)
        }
        EngineError::Upstream {
            status: upstream_status,
            messages,
            request_id,
            hint,
        } => {
            let kind = match upstream_status {
                404 => ProblemKind::NotFound,
                403 => ProblemKind::Forbidden,
                400..=499 => ProblemKind::UpstreamRejected,
                _ => ProblemKind::UpstreamError,
            };
            let mut p = Problem::new(kind, detail)
                .with_status(status)
                .with("upstream_status", upstream_status)
                .with("messages", messages);
            if let Some(id) = request_id {
                p = p.with("upstream_request_id", id);
            }
            if let Some(h) = hint {
                p = p.with("hint", h);
            }
            p
        }
        EngineError::Overloaded {
            retry_after_secs, ..
        } => {
            metrics::counter!("jiragate_shed_total").increment(1);
            let mut p = Problem::new(ProblemKind::Overloaded, detail).with_status(status);
            p.retry_after = Some(Duration::from_secs(retry_after_secs));
            p
        }
        EngineError::UpstreamUnavailable(_) => {
            // A short, honest wait: most transport failures are brief.
            let mut p = Problem::new(ProblemKind::UpstreamUnavailable, detail).with_status(status);
            p.retry_after = Some(Duration::from_secs(5));
            p
        }
        EngineError::UpstreamTimeout(_) => {
            Problem::new(ProblemKind::UpstreamTimeout, detail).with_status(status)
        }
        EngineError::CredentialUnavailable { hint, .. } => {
            tracing::error!(detail = %detail, "a credential could not be used");
            Problem::new(ProblemKind::CredentialUnavailable, detail)
                .with_status(status)
                .with("hint", hint)
        }
        EngineError::Unavailable(_) => {
            Problem::new(ProblemKind::Unavailable, detail).with_status(status)
        }
        EngineError::Config { .. } => {
            tracing::error!(detail = %detail, "configuration problem");
            Problem::new(ProblemKind::Config, detail).with_status(status)
        }
        EngineError::Internal(msg) => {
            tracing::error!(error = %msg, "engine internal error");
            Problem::internal()
        }
        #[allow(unreachable_patterns)]
        _ => Problem::new(ProblemKind::Internal, detail).with_status(status),
    }
}

/// axum's JSON body rejections become validation problems instead of plain text.
impl From<JsonRejection> for Problem {
    fn from(rej: JsonRejection) -> Self {
        match &rej {
            JsonRejection::MissingJsonContentType(_) => Problem::new(
                ProblemKind::UnsupportedMediaType,
                "expected a request body with `Content-Type: application/json`",
            ),
            JsonRejection::JsonDataError(e) => {
                // serde's message names the field and the expected type ("name: invalid type ...").
                let message = std::error::Error::source(e)
                    .map(|s| s.to_string())
                    .unwrap_or_else(|| e.body_text());
                let field = message
                    .split_once(": ")
                    .map(|(path, _)| path.to_owned())
                    .filter(|p| !p.contains(' '))
                    .unwrap_or_default();
                Problem::new(ProblemKind::Validation, message).with("field", field)
            }
            JsonRejection::JsonSyntaxError(_) => Problem::new(
                ProblemKind::Validation,
                "the request body is not valid JSON",
            )
            .with_status(StatusCode::BAD_REQUEST),
            JsonRejection::BytesRejection(_) => {
                if rej.status() == StatusCode::PAYLOAD_TOO_LARGE {
                    Problem::new(
                        ProblemKind::PayloadTooLarge,
                        "the request body exceeds the configured limit",
                    )
                } else {
                    Problem::new(
                        ProblemKind::Validation,
                        "the request body could not be read",
                    )
                    .with_status(StatusCode::BAD_REQUEST)
                }
            }
            _ => Problem::new(ProblemKind::Validation, rej.body_text())
                .with_status(StatusCode::BAD_REQUEST),
        }
    }
}

impl From<PathRejection> for Problem {
    fn from(rej: PathRejection) -> Self {
        Problem::new(ProblemKind::Validation, rej.body_text()).with_status(StatusCode::BAD_REQUEST)
    }
}

impl From<QueryRejection> for Problem {
    fn from(rej: QueryRejection) -> Self {
        Problem::new(ProblemKind::Validation, rej.body_text()).with_status(StatusCode::BAD_REQUEST)
    }
}

/// Result type of handlers.
pub type ApiResult<T> = Result<T, Problem>;
