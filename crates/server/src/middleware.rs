//! Cross-cutting layers: request timeout, problem normalisation, panic → problem.

use std::any::Any;
use std::time::Duration;

use axum::body::Body;
use axum::extract::Request;
use axum::http::{HeaderValue, Response as HttpResponse, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::metrics::PROBLEMS;
use crate::problem::{PROBLEM_CONTENT_TYPE, Problem, ProblemKind};
use crate::routes::proxy::Proxied;

/// Fail with a `timeout` problem when no response head is ready within `limit`. Streaming
/// bodies (proxy downloads) are not cut: the limit is for producing the response.
pub async fn request_timeout(limit: Duration, req: Request, next: Next) -> Response {
    match tokio::time::timeout(limit, next.run(req)).await {
        Ok(resp) => resp,
        Err(_) => Problem::new(
            ProblemKind::Timeout,
            format!("no response within {} s", limit.as_secs()),
        )
        .into_response(),
    }
}

fn kind_for_status(status: StatusCode) -> ProblemKind {
    match status {
        StatusCode::BAD_REQUEST | StatusCode::UNPROCESSABLE_ENTITY => ProblemKind::Validation,
        StatusCode::UNAUTHORIZED => ProblemKind::Unauthorized,
        StatusCode::FORBIDDEN => ProblemKind::Forbidden,
        StatusCode::NOT_FOUND => ProblemKind::NotFound,
        StatusCode::METHOD_NOT_ALLOWED => ProblemKind::MethodNotAllowed,
        StatusCode::CONFLICT => ProblemKind::Conflict,
        StatusCode::PAYLOAD_TOO_LARGE => ProblemKind::PayloadTooLarge,
        StatusCode::UNSUPPORTED_MEDIA_TYPE => ProblemKind::UnsupportedMediaType,
        StatusCode::TOO_MANY_REQUESTS => ProblemKind::RateLimited,
        StatusCode::REQUEST_TIMEOUT | StatusCode::GATEWAY_TIMEOUT => ProblemKind::Timeout,
        StatusCode::SERVICE_UNAVAILABLE => ProblemKind::Unavailable,
        s if s.is_client_error() => ProblemKind::Validation,
        _ => ProblemKind::Internal,
    }
}

/// Turn every error response that is not already a problem (axum's 405, the body-limit 413, …)
/// into one, so clients only ever parse one error shape. Jira's answers through the proxy and
/// the HTML pages of the OAuth callback are left alone.
pub async fn normalize_problems(req: Request, next: Next) -> Response {
    let mut resp = next.run(req).await;
    let status = resp.status();
    if status == StatusCode::PAYLOAD_TOO_LARGE {
        // The rest of the upload is never read: say so, so the client stops sending and reads
        // this answer instead of failing with a broken pipe.
        resp.headers_mut()
            .insert(header::CONNECTION, HeaderValue::from_static("close"));
    }
    if !(status.is_client_error() || status.is_server_error()) {
        return resp;
    }
    let content_type = resp
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned();
    if content_type.starts_with(PROBLEM_CONTENT_TYPE) {
        if let Some(kind) = resp.extensions().get::<ProblemKind>() {
            metrics::counter!(PROBLEMS, "kind" => kind.slug()).increment(1);
        }
        return resp;
    }
    if resp.extensions().get::<Proxied>().is_some()
        || resp
            .extensions()
            .get::<crate::mcp_oauth::OAuthAnswer>()
            .is_some()
        || content_type.starts_with("text/html")
    {
        return resp;
    }
    let kind = kind_for_status(status);
    metrics::counter!(PROBLEMS, "kind" => kind.slug()).increment(1);
    let detail = match kind {
        ProblemKind::MethodNotAllowed => "this route does not accept that HTTP method".to_owned(),
        ProblemKind::PayloadTooLarge => "the request body exceeds the configured limit".to_owned(),
        _ => status
            .canonical_reason()
            .unwrap_or("request failed")
            .to_owned(),
    };
    let mut out = Problem::new(kind, detail)
        .with_status(status)
        .into_response();
    for name in [header::ALLOW, header::CONNECTION] {
        if let Some(v) = resp.headers().get(&name) {
            out.headers_mut().insert(name, v.clone());
        }
    }
    out
}

/// `CatchPanic` handler: a panic becomes a generic problem 500 (the payload is logged, never sent).
#[derive(Clone, Copy, Debug, Default)]
pub struct PanicToProblem;

impl tower_http::catch_panic::ResponseForPanic for PanicToProblem {
    type ResponseBody = Body;

    fn response_for_panic(&mut self, err: Box<dyn Any + Send + 'static>) -> HttpResponse<Body> {
        let msg = err
            .downcast_ref::<String>()
            .map(String::as_str)
            .or_else(|| err.downcast_ref::<&str>().copied())
            .unwrap_or("non-string panic payload");
        tracing::error!(panic = msg, "request handler panicked");
        Problem::internal().into_response()
    }
}
