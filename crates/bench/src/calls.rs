//! One call of each kind: directly to the simulator, or through jiragate (execute, proxy, MCP).

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

use anyhow::{Context, Result, bail};
use reqwest::header::{ACCEPT, CONTENT_TYPE};
use serde_json::{Value, json};

/// The 11 fields of the search scenario (those a typical issue list shows).
pub const SEARCH_FIELDS: [&str; 11] = [
    "summary",
    "status",
    "assignee",
    "reporter",
    "priority",
    "issuetype",
    "project",
    "labels",
    "created",
    "updated",
    "duedate",
];
pub const SEARCH_LIMIT: u32 = 10;

/// What a scenario calls.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// `GET {site}/rest/api/3/issue/{key}` with Basic auth.
    DirectGet,
    /// The same request through a TCP relay that does no work (see `relay`): the floor of
    /// any hop.
    RelayGet,
    /// `POST {site}/rest/api/3/search/jql`, 11 fields, `maxResults` 10.
    DirectSearch,
    /// `POST …/connectors/{id}/execute` `issues.get`.
    ExecuteGet,
    /// `POST …/connectors/{id}/execute` `issues.search`, 11 fields, limit 10.
    ExecuteSearch,
    /// `GET …/connectors/{id}/proxy/rest/api/3/issue/{key}`.
    ProxyGet,
    /// `POST /mcp` `tools/call` `jira_get_issue` (streamable HTTP, one session per worker).
    McpGet,
}

impl Kind {
    pub fn name(self) -> &'static str {
        match self {
            Kind::DirectGet => "direct GET issue",
            Kind::RelayGet => "direct GET via TCP relay",
            Kind::DirectSearch => "direct POST search/jql",
            Kind::ExecuteGet => "execute issues.get",
            Kind::ExecuteSearch => "execute issues.search",
            Kind::ProxyGet => "proxy GET issue",
            Kind::McpGet => "MCP jira_get_issue",
        }
    }

    pub fn id(self) -> &'static str {
        match self {
            Kind::DirectGet => "direct_get",
            Kind::RelayGet => "relay_get",
            Kind::DirectSearch => "direct_search",
            Kind::ExecuteGet => "execute_get",
            Kind::ExecuteSearch => "execute_search",
            Kind::ProxyGet => "proxy_get",
            Kind::McpGet => "mcp_get",
        }
    }

    /// The direct call this one is compared with.
    pub fn baseline(self) -> Option<Kind> {
        match self {
            Kind::DirectGet | Kind::DirectSearch => None,
            Kind::ExecuteSearch => Some(Kind::DirectSearch),
            Kind::RelayGet | Kind::ExecuteGet | Kind::ProxyGet | Kind::McpGet => {
                Some(Kind::DirectGet)
            }
        }
    }

    pub fn through_jiragate(self) -> bool {
        matches!(
            self,
            Kind::ExecuteGet | Kind::ExecuteSearch | Kind::ProxyGet | Kind::McpGet
        )
    }
}

/// Everything a call needs; shared by all workers.
pub struct Ctx {
    pub http: reqwest::Client,
    pub site_url: String,
    /// The site URL through the TCP relay.
    pub relay_site_url: String,
    pub email: String,
    pub api_token: String,
    pub jiragate: String,
    pub connector_id: String,
    /// API keys used round-robin (one unless the per-key rate limit forces a pool).
    pub keys: Vec<String>,
    pub next_key: AtomicUsize,
    pub issue_keys: Vec<String>,
    pub project: String,
    /// Requests answered 429 by jiragate.
    pub rate_limited: AtomicU64,
    /// Every request sent to jiragate (setup, warm-up and measured).
    pub jiragate_requests: AtomicU64,
}

/// How a call failed.
#[derive(Debug)]
pub enum CallError {
    RateLimited,
    Other(String),
}

impl Ctx {
    fn key(&self) -> &str {
        let i = self.next_key.fetch_add(1, Ordering::Relaxed) % self.keys.len();
        &self.keys[i]
    }

    fn issue(&self, i: u64) -> &str {
        &self.issue_keys[(i as usize) % self.issue_keys.len()]
    }

    pub fn search_jql(&self) -> String {
        format!("project = {} ORDER BY key", self.project)
    }

    fn execute_url(&self) -> String {
        format!(
            "{}/api/v1/integrations/connectors/{}/execute",
            self.jiragate, self.connector_id
        )
    }

    fn jg(&self, rb: reqwest::RequestBuilder) -> reqwest::RequestBuilder {
        self.jiragate_requests.fetch_add(1, Ordering::Relaxed);
        rb.bearer_auth(self.key())
    }

    /// One call; the body is read and parsed as JSON on every path (what a client library does).
    pub async fn call(
        &self,
        kind: Kind,
        i: u64,
        mcp: Option<&McpSession>,
    ) -> Result<(), CallError> {
        let rb = match kind {
            Kind::DirectGet | Kind::RelayGet => {
                let site = if kind == Kind::RelayGet {
                    &self.relay_site_url
                } else {
                    &self.site_url
                };
                self.http
                    .get(format!("{site}/rest/api/3/issue/{}", self.issue(i)))
                    .basic_auth(&self.email, Some(&self.api_token))
            }
            Kind::DirectSearch => self
                .http
                .post(format!("{}/rest/api/3/search/jql", self.site_url))
                .basic_auth(&self.email, Some(&self.api_token))
                .json(&json!({"jql": self.search_jql(), "fields": SEARCH_FIELDS, "maxResults": SEARCH_LIMIT})),
            Kind::ExecuteGet => self.jg(self.http.post(self.execute_url())).json(
                &json!({"entity": "issues", "action": "get", "params": {"issue": self.issue(i)}}),
            ),
            Kind::ExecuteSearch => self.jg(self.http.post(self.execute_url())).json(&json!({
                "entity": "issues", "action": "search",
                "params": {"jql": self.search_jql(), "fields": SEARCH_FIELDS, "limit": SEARCH_LIMIT}
            })),
            Kind::ProxyGet => self.jg(self.http.get(format!(
                "{}/api/v1/integrations/connectors/{}/proxy/rest/api/3/issue/{}",
                self.jiragate,
                self.connector_id,
                self.issue(i)
            ))),
            Kind::McpGet => {
                let Some(session) = mcp else {
                    return Err(CallError::Other("no MCP session".into()));
                };
                let id = session.next_id.fetch_add(1, Ordering::Relaxed);
                let body = json!({"jsonrpc": "2.0", "id": id, "method": "tools/call",
                    "params": {"name": "jira_get_issue",
                               "arguments": {"connection": self.connector_id, "issue": self.issue(i)}}});
                let r = self
                    .jg(session.post(&self.http, &self.jiragate))
                    .json(&body)
                    .send()
                    .await
                    .map_err(|e| CallError::Other(format!("{e:#}")))?;
                let status = r.status();
                let text = r
                    .text()
                    .await
                    .map_err(|e| CallError::Other(format!("{e:#}")))?;
                if status.as_u16() == 429 {
                    return Err(CallError::RateLimited);
                }
                if !status.is_success() {
                    return Err(CallError::Other(format!("HTTP {status}: {}", clip(&text))));
                }
                let msg = rpc_message(&text, id)
                    .ok_or_else(|| CallError::Other(format!("no JSON-RPC answer: {}", clip(&text))))?;
                if msg.get("error").is_some() || msg.pointer("/result/isError") == Some(&Value::Bool(true)) {
                    return Err(CallError::Other(format!("tool error: {}", clip(&msg.to_string()))));
                }
                return Ok(());
            }
        };
        let r = rb
            .send()
            .await
            .map_err(|e| CallError::Other(format!("{e:#}")))?;
        let status = r.status();
        let bytes = r
            .bytes()
            .await
            .map_err(|e| CallError::Other(format!("{e:#}")))?;
        if status.as_u16() == 429 {
            return Err(CallError::RateLimited);
        }
        if !status.is_success() {
            return Err(CallError::Other(format!(
                "HTTP {status}: {}",
                clip(&String::from_utf8_lossy(&bytes))
            )));
        }
        let v: Value = serde_json::from_slice(&bytes)
            .map_err(|e| CallError::Other(format!("body is not JSON: {e}")))?;
        if v.is_null() {
            return Err(CallError::Other("empty JSON body".into()));
        }
        Ok(())
    }
}

fn clip(s: &str) -> String {
    s.chars().take(300).collect()
}

/// The JSON-RPC message answering `id` in a JSON or `text/event-stream` body.
fn rpc_message(body: &str, id: u64) -> Option<Value> {
    let matches = |v: &Value| v.get("id").and_then(Value::as_u64) == Some(id);
    if let Ok(v) = serde_json::from_str::<Value>(body.trim()) {
        return matches(&v).then_some(v);
    }
    body.lines()
        .filter_map(|l| l.strip_prefix("data:"))
        .filter_map(|d| serde_json::from_str::<Value>(d.trim()).ok())
        .find(matches)
}

/// An initialized MCP session on `/mcp` (streamable HTTP).
pub struct McpSession {
    pub session_id: Option<String>,
    pub protocol_version: String,
    pub next_id: AtomicU64,
}

impl McpSession {
    fn post(&self, http: &reqwest::Client, base: &str) -> reqwest::RequestBuilder {
        let mut rb = http
            .post(format!("{base}/mcp"))
            .header(ACCEPT, "application/json, text/event-stream")
            .header(CONTENT_TYPE, "application/json")
            .header("mcp-protocol-version", &self.protocol_version);
        if let Some(s) = &self.session_id {
            rb = rb.header("mcp-session-id", s);
        }
        rb
    }

    /// Ends the session (`DELETE /mcp`), as the MCP SDKs' clients do when they close: a
    /// session left open keeps its worker and buffers in `serve` until its keep-alive ends.
    pub async fn close(&self, ctx: &Ctx) -> Result<()> {
        let Some(id) = &self.session_id else {
            return Ok(());
        };
        let r = ctx
            .jg(ctx.http.delete(format!("{}/mcp", ctx.jiragate)))
            .header("mcp-session-id", id)
            .header("mcp-protocol-version", &self.protocol_version)
            .send()
            .await
            .context("MCP DELETE")?;
        if !r.status().is_success() {
            bail!("MCP DELETE: HTTP {}", r.status());
        }
        Ok(())
    }

    /// `initialize`, then `notifications/initialized`, as the streamable HTTP spec asks.
    pub async fn open(ctx: &Ctx) -> Result<Arc<McpSession>> {
        let init = json!({"jsonrpc": "2.0", "id": 0, "method": "initialize",
            "params": {"protocolVersion": "2025-06-18", "capabilities": {},
                       "clientInfo": {"name": "jiragate-bench", "version": env!("CARGO_PKG_VERSION")}}});
        let r = ctx
            .jg(ctx.http.post(format!("{}/mcp", ctx.jiragate)))
            .header(ACCEPT, "application/json, text/event-stream")
            .json(&init)
            .send()
            .await
            .context("MCP initialize")?;
        let status = r.status();
        let session_id = r
            .headers()
            .get("mcp-session-id")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let text = r.text().await?;
        if !status.is_success() {
            bail!("MCP initialize: HTTP {status}: {}", clip(&text));
        }
        let msg = rpc_message(&text, 0)
            .with_context(|| format!("MCP initialize: no answer in {}", clip(&text)))?;
        let protocol_version = msg
            .pointer("/result/protocolVersion")
            .and_then(Value::as_str)
            .unwrap_or("2025-06-18")
            .to_owned();
        let session = McpSession {
            session_id,
            protocol_version,
            next_id: AtomicU64::new(1),
        };
        let r = ctx
            .jg(session.post(&ctx.http, &ctx.jiragate))
            .json(&json!({"jsonrpc": "2.0", "method": "notifications/initialized"}))
            .send()
            .await
            .context("MCP notifications/initialized")?;
        if !r.status().is_success() {
            let status = r.status();
            bail!(
                "MCP notifications/initialized: HTTP {status}: {}",
                clip(&r.text().await.unwrap_or_default())
            );
        }
        Ok(Arc::new(session))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_answer_in_sse_or_json() {
        let sse = "id: 0\nretry: 3000\ndata:\n\nevent: message\ndata: {\"jsonrpc\":\"2.0\",\"id\":7,\"result\":{}}\n\n";
        assert!(rpc_message(sse, 7).is_some());
        assert!(rpc_message(sse, 8).is_none());
        assert!(rpc_message("{\"jsonrpc\":\"2.0\",\"id\":3,\"result\":{}}", 3).is_some());
    }
}
