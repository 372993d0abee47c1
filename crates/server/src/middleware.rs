//! Cross-cutting layers: request timeout, problem normalisation, panic → problem, and
//! `Connection: close` on answers given before the request body was read.

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

/// Adds `Connection: close` to an HTTP/1 answer given before its request body was read to the
/// end (a 401 from the authentication check, a 429, a 413, an unknown route).
///
/// hyper cannot reuse such a connection unless the rest of the body is already in its buffer,
/// so it closes it after the answer, yet the answer itself said keep-alive: a client that sends
/// the next request on it at once gets no answer at all ("server disconnected without sending a
/// response"). The MCP SDK's OAuth client does exactly that after the 401 of its first POST.
pub async fn close_if_body_unread(req: Request, next: Next) -> Response {
    let http1 = req.version() <= axum::http::Version::HTTP_11;
    if !http1 || http_body::Body::is_end_stream(req.body()) {
        return next.run(req).await;
    }
    let read_to_end = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let req = req.map(|inner| {
        Body::new(ReadToEnd {
            inner,
            done: read_to_end.clone(),
        })
    });
    let mut resp = next.run(req).await;
    if !read_to_end.load(std::sync::atomic::Ordering::Acquire) {
        resp.headers_mut()
            .insert(header::CONNECTION, HeaderValue::from_static("close"));
    }
    resp
}

/// A request body that records when it has been read to its end.
struct ReadToEnd {
    inner: Body,
    done: std::sync::Arc<std::sync::atomic::AtomicBool>,
}

impl http_body::Body for ReadToEnd {
    type Data = bytes::Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<http_body::Frame<bytes::Bytes>, axum::Error>>> {
        let polled = std::pin::Pin::new(&mut self.inner).poll_frame(cx);
        let ended = match &polled {
            std::task::Poll::Ready(None) => true,
            std::task::Poll::Ready(Some(Ok(_))) => self.inner.is_end_stream(),
            _ => false,
        };
        if ended {
            self.done.store(true, std::sync::atomic::Ordering::Release);
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.inner.size_hint()
    }
}

/// Every route's own layer, in one step (one boxed future and one service clone per request,
/// not three), from the inside out:
/// 1. fail with a `timeout` problem when no response head is ready within `limit` (streaming
///    bodies, proxy downloads, are not cut: the limit is for producing the response);
/// 2. turn any other error answer into a problem ([`normalize_problem`]);
/// 3. count and time the request under its route template ([`crate::metrics::RequestTrack`]).
pub async fn per_route(limit: Duration, req: Request, next: Next) -> Response {
    let track = crate::metrics::RequestTrack::start(&req);
    let resp = match tokio::time::timeout(limit, next.run(req)).await {
        Ok(resp) => resp,
        Err(_) => Problem::new(
            ProblemKind::Timeout,
            format!("no response within {} s", limit.as_secs()),
        )
        .into_response(),
    };
    let resp = normalize_problem(resp);
    track.finish(&resp);
    resp
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
fn normalize_problem(mut resp: Response) -> Response {
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
