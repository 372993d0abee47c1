//! The credential-injecting proxy: one raw Jira request on a connection, its response
//! streamed back. Whether the path stays inside the connection's site is decided by the Jira
//! client's one upstream boundary (`upstream_url`), which refuses before sending.

use std::sync::Arc;

use http::{HeaderMap, Method};
use jiragate_store::{Connection, OrgId};

use crate::links::LinkRewriter;
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
    pub connection: Arc<Connection>,
    pub upstream: reqwest::Response,
    /// Turns the connection's upstream links into links to this proxy (bodies and headers).
    pub links: LinkRewriter,
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
        let connection = self.resolve_shared(org, r).await?;
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
        let links = self.proxy_links(&connection);
        Ok(ProxyResponse {
            connection,
            upstream,
            links,
        })
    }

    /// The connection's upstream bases and the proxy base that replaces them: the API base
    /// (the site, or `<gateway>/ex/jira/{cloudId}`) and the site's REST links. Human links
    /// (`/browse/…`) keep pointing at the site.
    ///
    /// Built once per connection and kept while the fields it is made of stay the same, so a
    /// proxied call formats no URLs.
    pub fn proxy_links(&self, connection: &Connection) -> LinkRewriter {
        if let Some(kept) = self.hot.links(connection) {
            return kept;
        }
        let links = self.build_proxy_links(connection);
        self.hot.put_links(connection, links.clone());
        links
    }

    fn build_proxy_links(&self, connection: &Connection) -> LinkRewriter {
        let cfg = self.auth.config();
        let proxy = format!(
            "{}/api/v1/integrations/connectors/{}/proxy",
            cfg.public_url.trim_end_matches('/'),
            connection.id
        );
        let site = connection.site_url.trim_end_matches('/');
        let base = jiragate_auth::connection_base_url(connection, &cfg.endpoints.api_url);
        let mut pairs = vec![(format!("{site}/rest/"), format!("{proxy}/rest/"))];
        if base != site {
            pairs.push((base, proxy));
        }
        LinkRewriter::new(pairs)
    }
}
