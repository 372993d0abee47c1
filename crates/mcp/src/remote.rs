//! The remote backend: a running jiragate server, through its HTTP API
//! (`jiragate mcp --server URL` with `JIRAGATE_API_KEY`).

use std::time::Duration;

use async_trait::async_trait;
use reqwest::{Method, StatusCode};
use secrecy::{ExposeSecret, SecretString};
use serde_json::{Value, json};

use crate::backend::{ActionCall, ActionOutput, Backend, ConnectionInfo, ToolError, hints};

const CONNECTORS: &str = "/api/v1/integrations/connectors";

/// Calls `GET /api/v1/integrations/connectors`, `GET …/{id}/describe`, `POST …/{id}/execute`
/// and `POST …/{id}/check` with `Authorization: Bearer <api key>`; problem+json failures
/// become tool errors with the same advice as the local backend's.
pub struct RemoteBackend {
    base_url: String,
    api_key: SecretString,
    http: reqwest::Client,
}

impl std::fmt::Debug for RemoteBackend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RemoteBackend")
            .field("base_url", &self.base_url)
            .finish_non_exhaustive()
    }
}

impl RemoteBackend {
    /// `base_url` is the server's root (e.g. `http://127.0.0.1:8080`).
    pub fn new(base_url: impl Into<String>, api_key: SecretString) -> Result<Self, ToolError> {
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(10))
            .timeout(Duration::from_secs(120))
            .user_agent(concat!("jiragate-mcp/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| {
                ToolError::new("internal", format!("cannot build the HTTP client: {e}"))
            })?;
        Ok(Self::with_client(base_url, api_key, http))
    }

    pub fn with_client(
        base_url: impl Into<String>,
        api_key: SecretString,
        http: reqwest::Client,
    ) -> Self {
        RemoteBackend {
            base_url: base_url.into().trim_end_matches('/').to_owned(),
            api_key,
            http,
        }
    }

    async fn call(
        &self,
        method: Method,
        path: &str,
        body: Option<Value>,
    ) -> Result<Value, ToolError> {
        let url = format!("{}{path}", self.base_url);
        let mut request = self
            .http
            .request(method, &url)
            .bearer_auth(self.api_key.expose_secret())
            .header(reqwest::header::ACCEPT, "application/json");
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.map_err(|e| {
            ToolError::new(
                "unavailable",
                format!(
                    "cannot reach the jiragate server at {}: {}",
                    self.base_url,
                    e.without_url()
                ),
            )
        })?;
        let status = response.status();
        let retry_after = response
            .headers()
            .get(reqwest::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok());
        let bytes = response.bytes().await.map_err(|e| {
            ToolError::new(
                "unavailable",
                format!(
                    "the jiragate server's answer was cut off: {}",
                    e.without_url()
                ),
            )
        })?;
        let body: Value = serde_json::from_slice(&bytes)
            .unwrap_or_else(|_| json!({ "detail": String::from_utf8_lossy(&bytes) }));
        if status.is_success() {
            return Ok(body);
        }
        Err(problem_error(status, retry_after, &body))
    }

    fn connector_path(connection: &ConnectionInfo, tail: &str) -> String {
        format!("{CONNECTORS}/{}/{tail}", connection.id)
    }
}

/// A problem+json answer as a tool error. The problem `type` may be a bare kind or a URI whose
/// last segment is the kind.
fn problem_error(status: StatusCode, retry_after: Option<u64>, body: &Value) -> ToolError {
    let text = |key: &str| body.get(key).and_then(Value::as_str).map(str::to_owned);
    let kind = text("type")
        .map(|t| t.rsplit('/').next().unwrap_or(&t).to_owned())
        .filter(|k| !k.is_empty() && k != "about:blank")
        .unwrap_or_else(|| match status {
            StatusCode::UNAUTHORIZED => "unauthorized".to_owned(),
            StatusCode::FORBIDDEN => "forbidden".to_owned(),
            StatusCode::NOT_FOUND => "not_found".to_owned(),
            StatusCode::TOO_MANY_REQUESTS => "rate_limited".to_owned(),
            s if s.is_client_error() => "validation".to_owned(),
            _ => "upstream_error".to_owned(),
        });
    let detail = text("detail")
        .or_else(|| text("title"))
        .unwrap_or_else(|| format!("the jiragate server answered {status}"));
    let message = match kind.as_str() {
        "needs_reauth" => format!("{detail}. {}", hints::REAUTH),
        "missing_scope" => {
            let scope = text("scope").unwrap_or_else(|| "the required scope".to_owned());
            format!("{detail}. {}", hints::missing_scope(&scope))
        }
        "rate_limited" => {
            let secs = body
                .get("retry_after_secs")
                .or_else(|| body.get("retry_after"))
                .and_then(Value::as_u64)
                .or(retry_after)
                .unwrap_or(1);
            hints::rate_limited(secs)
        }
        "unauthorized" => format!("{detail}. Check JIRAGATE_API_KEY for the server."),
        "forbidden" => format!("{detail}. The API key needs the 'execute' scope."),
        "validation" => format!("{detail}. {}", hints::DESCRIBE),
        _ => detail,
    };
    ToolError::new(kind, message)
}

/// The list answer may be a bare array or wrapped (`data`, `connectors`, `items`).
fn connector_items(body: Value) -> Vec<Value> {
    match body {
        Value::Array(items) => items,
        Value::Object(mut map) => ["data", "connectors", "items", "connections"]
            .iter()
            .find_map(|k| match map.remove(*k) {
                Some(Value::Array(items)) => Some(items),
                _ => None,
            })
            .unwrap_or_default(),
        _ => Vec::new(),
    }
}

fn connector_info(item: &Value) -> Option<ConnectionInfo> {
    let text = |keys: &[&str]| {
        keys.iter()
            .find_map(|k| {
                let mut v = item;
                for part in k.split('.') {
                    v = v.get(part)?;
                }
                v.as_str().map(str::to_owned)
            })
            .unwrap_or_default()
    };
    let id = text(&["id", "connector_id"]);
    if id.is_empty() {
        return None;
    }
    Some(ConnectionInfo {
        id,
        workspace: text(&["workspace_name", "workspace"]),
        name: text(&["name"]),
        api_type: text(&["api_type", "replication_config.api_type"]),
        auth_kind: text(&["auth_kind", "auth_type"]),
        site_url: text(&["site_url", "replication_config.base_url", "base_url"]),
        status: text(&["status"]),
        status_reason: Some(text(&["status_reason"])).filter(|s| !s.is_empty()),
        last_checked_at: item
            .get("last_checked_at")
            .filter(|v| !v.is_null())
            .cloned(),
    })
}

#[async_trait]
impl Backend for RemoteBackend {
    async fn list_connections(&self) -> Result<Vec<ConnectionInfo>, ToolError> {
        let body = self.call(Method::GET, CONNECTORS, None).await?;
        Ok(connector_items(body)
            .iter()
            .filter_map(connector_info)
            .collect())
    }

    async fn check(&self, connection: &ConnectionInfo) -> Result<Value, ToolError> {
        self.call(
            Method::POST,
            &Self::connector_path(connection, "check"),
            None,
        )
        .await
    }

    async fn describe(&self, connection: &ConnectionInfo) -> Result<Value, ToolError> {
        self.call(
            Method::GET,
            &Self::connector_path(connection, "describe"),
            None,
        )
        .await
    }

    async fn execute(
        &self,
        connection: &ConnectionInfo,
        call: ActionCall,
    ) -> Result<ActionOutput, ToolError> {
        let body = json!({ "entity": call.entity, "action": call.action, "params": call.params });
        let mut answer = self
            .call(
                Method::POST,
                &Self::connector_path(connection, "execute"),
                Some(body),
            )
            .await?;
        let next_page_token = answer
            .get("next_page_token")
            .and_then(Value::as_str)
            .map(str::to_owned);
        let data = answer
            .get_mut("data")
            .map(Value::take)
            .unwrap_or(Value::Null);
        Ok(ActionOutput {
            data,
            next_page_token,
        })
    }

    async fn recent_events(
        &self,
        connection: &ConnectionInfo,
        limit: u32,
    ) -> Result<Vec<Value>, ToolError> {
        let mut answer = self
            .call(
                Method::GET,
                &Self::connector_path(connection, &format!("webhooks/events?limit={limit}")),
                None,
            )
            .await?;
        Ok(match answer.get_mut("data").map(Value::take) {
            Some(Value::Array(events)) => events,
            _ => Vec::new(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn problem_types_map_to_actionable_kinds() {
        let err = problem_error(
            StatusCode::CONFLICT,
            None,
            &json!({"type": "https://jiragate.dev/problems/needs_reauth", "detail": "connection x needs re-auth"}),
        );
        assert_eq!(err.kind, "needs_reauth");
        assert!(err.message.contains("jiragate connect"));
        let err = problem_error(
            StatusCode::TOO_MANY_REQUESTS,
            Some(7),
            &json!({"type": "rate_limited"}),
        );
        assert!(err.message.contains("7 s"));
        let err = problem_error(
            StatusCode::FORBIDDEN,
            None,
            &json!({"type": "missing_scope", "detail": "missing", "scope": "write:jira-work"}),
        );
        assert!(err.message.contains("`write:jira-work`"));
    }

    #[test]
    fn connector_lists_are_read_in_either_shape() {
        let item = json!({"id": "c1", "workspace_name": "w", "name": "jira", "status": "healthy",
                          "replication_config": {"base_url": "http://x"}});
        let bare = connector_items(json!([item.clone()]));
        let wrapped = connector_items(json!({"data": [item]}));
        let info = connector_info(&bare[0]).unwrap();
        assert_eq!(info.reference(), "w/jira");
        assert_eq!(info.site_url, "http://x");
        assert_eq!(connector_info(&wrapped[0]).unwrap().id, "c1");
    }
}
