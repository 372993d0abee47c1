//! The credential-injecting proxy: one raw Jira request on a connection, its response
//! streamed back. Whether the path stays inside the connection's site is decided by the Jira
//! client's one upstream boundary (`upstream_url`), which refuses before sending.

use http::{HeaderMap, Method};
use jiragate_store::{Connection, OrgId};

use crate::{Actor, ApiScope, ConnRef, Engine, EngineError};

/// Forwarding headers (`Forwarded`, `X-Forwarded-*`, `X-Original-URL`, `X-Real-IP` …) that a
/// caller must never pass upstream.
pub use jiragate_jira::FORWARDING_HEADERS;

/// One request to forward.
pub struct ProxyRequest {
    pub method: Method,
    /// `/rest/api/3/…?…`, still percent-encoded as the caller sent it.
    pub path_and_query: String,
    /// Already stripped of hop-by-hop and caller credential headers by the front end; the Jira
    /// client strips anything credential-like again.
    pub headers: HeaderMap,
    /// Small bodies should be buffered so a request can be replayed once after a refresh.
    pub body: reqwest::Body,
}

/// Jira's answer (status, headers and a body to stream) and the connection that sent it.
pub struct ProxyResponse {
    pub connection: Connection,
    pub upstream: reqwest::Response,
}

impl Engine {
    /// Sends one raw request to Jira with the connection's credential (`proxy`).
    pub async fn proxy(
        &self,
        actor: Actor<'_>,
        org: &OrgId,
        r: &ConnRef,
        req: ProxyRequest,
    ) -> Result<ProxyResponse, EngineError> {
        actor.require(ApiScope::Proxy)?;
        let connection = self.resolve(org, r).await?;
        let src = self.auth.token_source(org, &connection);
        let upstream = self
            .jira
            .send_raw(
                src.as_ref(),
                req.method,
                &req.path_and_query,
                req.headers,
                req.body,
            )
            .await?;
        Ok(ProxyResponse {
            connection,
            upstream,
        })
    }
}
