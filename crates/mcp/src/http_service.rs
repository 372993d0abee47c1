//! Streamable HTTP: rmcp's `StreamableHttpService` (sessions in memory) behind an auth hook
//! that picks the [`Backend`] for each request from its API key's organization.
//!
//! Two ways to wire auth, whichever suits the host application:
//! 1. pass a [`BackendResolver`] (async: it sees the request head, checks
//!    `Authorization: Bearer`, returns the organization's backend or an [`HttpRejection`]);
//! 2. authenticate in an outer middleware and insert a [`RequestBackend`] into the request's
//!    extensions; the resolver is then not consulted for that request.
//!
//! Every HTTP request (POST, GET stream, DELETE) goes through the hook, so a request without
//! a valid key never reaches the MCP session: 401 with `application/problem+json`.

use std::convert::Infallible;
use std::fmt::Display;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use async_trait::async_trait;
use bytes::Bytes;
use http::StatusCode;
use http::request::Parts;
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Full};
use rmcp::transport::streamable_http_server::session::local::LocalSessionManager;
use rmcp::transport::{StreamableHttpServerConfig, StreamableHttpService};
use serde_json::json;

use crate::McpOptions;
use crate::backend::Backend;
use crate::server::{JiragateMcp, RequestBackend};
use crate::tools::OptionsError;

/// Chooses the backend for one HTTP request (typically: authenticate the Bearer key, then a
/// [`crate::LocalBackend`] for the key's organization).
#[async_trait]
pub trait BackendResolver: Send + Sync + 'static {
    async fn resolve(&self, parts: &Parts) -> Result<Arc<dyn Backend>, HttpRejection>;
}

/// Adapts a synchronous closure `Fn(&Parts) -> Result<Arc<dyn Backend>, HttpRejection>`.
pub fn resolver_fn<F>(resolve: F) -> Arc<dyn BackendResolver>
where
    F: Fn(&Parts) -> Result<Arc<dyn Backend>, HttpRejection> + Send + Sync + 'static,
{
    Arc::new(ClosureResolver(resolve))
}

struct ClosureResolver<F>(F);

#[async_trait]
impl<F> BackendResolver for ClosureResolver<F>
where
    F: Fn(&Parts) -> Result<Arc<dyn Backend>, HttpRejection> + Send + Sync + 'static,
{
    async fn resolve(&self, parts: &Parts) -> Result<Arc<dyn Backend>, HttpRejection> {
        (self.0)(parts)
    }
}

/// An HTTP-level refusal, sent as `application/problem+json`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpRejection {
    pub status: StatusCode,
    /// Stable problem type, e.g. `unauthorized`, `forbidden`.
    pub kind: String,
    pub detail: String,
}

impl HttpRejection {
    pub fn unauthorized(detail: impl Into<String>) -> Self {
        HttpRejection {
            status: StatusCode::UNAUTHORIZED,
            kind: "unauthorized".to_owned(),
            detail: detail.into(),
        }
    }

    pub fn forbidden(detail: impl Into<String>) -> Self {
        HttpRejection {
            status: StatusCode::FORBIDDEN,
            kind: "forbidden".to_owned(),
            detail: detail.into(),
        }
    }

    pub fn internal(detail: impl Into<String>) -> Self {
        HttpRejection {
            status: StatusCode::INTERNAL_SERVER_ERROR,
            kind: "internal".to_owned(),
            detail: detail.into(),
        }
    }

    pub fn into_response(self) -> http::Response<BoxBody<Bytes, Infallible>> {
        let body = json!({
            "type": self.kind,
            "title": self.status.canonical_reason().unwrap_or("error"),
            "status": self.status.as_u16(),
            "detail": self.detail,
        });
        let mut builder = http::Response::builder()
            .status(self.status)
            .header(http::header::CONTENT_TYPE, "application/problem+json");
        if self.status == StatusCode::UNAUTHORIZED {
            builder = builder.header(http::header::WWW_AUTHENTICATE, "Bearer realm=\"jiragate\"");
        }
        builder
            .body(Full::new(Bytes::from(body.to_string())).boxed())
            .unwrap_or_else(|_| {
                let mut fallback = http::Response::new(Full::new(Bytes::new()).boxed());
                *fallback.status_mut() = StatusCode::INTERNAL_SERVER_ERROR;
                fallback
            })
    }
}

/// The `/mcp` endpoint as a tower service (mount with axum's `route_service`/`nest_service`).
#[derive(Clone)]
pub struct McpHttpService {
    inner: StreamableHttpService<JiragateMcp, LocalSessionManager>,
    resolver: Arc<dyn BackendResolver>,
}

/// The `/mcp` endpoint with defaults suited to an authenticated server: sessions in memory,
/// and no `Host` allow-list. rmcp's default allow-list (loopback names only) guards
/// unauthenticated local servers against DNS rebinding; here every request must carry an API
/// key a rebinding page cannot know, and the server is reachable by its public name.
pub fn streamable_http_service(
    resolver: Arc<dyn BackendResolver>,
    opts: McpOptions,
) -> Result<McpHttpService, OptionsError> {
    streamable_http_service_with_config(
        resolver,
        opts,
        StreamableHttpServerConfig::default().disable_allowed_hosts(),
    )
}

/// [`streamable_http_service`] with rmcp's transport settings chosen by the caller
/// (allowed hosts/origins, keep-alive, cancellation token for graceful shutdown, body limit).
pub fn streamable_http_service_with_config(
    resolver: Arc<dyn BackendResolver>,
    opts: McpOptions,
    config: StreamableHttpServerConfig,
) -> Result<McpHttpService, OptionsError> {
    let prototype = JiragateMcp::per_request(opts)?;
    let inner = StreamableHttpService::new(
        move || Ok(prototype.clone()),
        Arc::new(LocalSessionManager::default()),
        config,
    );
    Ok(McpHttpService { inner, resolver })
}

impl<B> tower::Service<http::Request<B>> for McpHttpService
where
    B: http_body::Body + Send + 'static,
    B::Error: Display,
    B::Data: Send + 'static,
{
    type Response = http::Response<BoxBody<Bytes, Infallible>>;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, Infallible>> + Send>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: http::Request<B>) -> Self::Future {
        let this = self.clone();
        Box::pin(async move {
            let (mut parts, body) = request.into_parts();
            if parts.extensions.get::<RequestBackend>().is_none() {
                match this.resolver.resolve(&parts).await {
                    Ok(backend) => {
                        parts.extensions.insert(RequestBackend(backend));
                    }
                    Err(rejection) => return Ok(rejection.into_response()),
                }
            }
            Ok(this
                .inner
                .handle(http::Request::from_parts(parts, body))
                .await)
        })
    }
}

/// The Bearer token of a request, if any (`Authorization: Bearer <key>`).
pub(crate) fn bearer_token(parts: &Parts) -> Option<&str> {
    let value = parts
        .headers
        .get(http::header::AUTHORIZATION)?
        .to_str()
        .ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then_some(token.trim())
        .filter(|t| !t.is_empty())
}
