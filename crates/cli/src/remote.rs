//! Remote mode: the same operations through a running server's HTTP API (`--server URL`,
//! `JIRAGATE_API_KEY`). Failures arrive as problem+json and keep their `type`.

use anyhow::Context;
use secrecy::{ExposeSecret, SecretString};
use serde_json::{Value, json};

use crate::error::CliError;

pub struct RemoteClient {
    base: String,
    key: SecretString,
    http: reqwest::Client,
}

impl RemoteClient {
    pub fn new(base: &str, key: SecretString) -> anyhow::Result<Self> {
        let http = reqwest::Client::builder()
            .timeout(std::time::Duration::from_secs(300))
            .build()
            .context("building the HTTP client")?;
        Ok(Self {
            base: base.trim_end_matches('/').to_string(),
            key,
            http,
        })
    }

    pub async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<&Value>,
    ) -> Result<Value, CliError> {
        let url = format!("{}{}", self.base, path);
        let mut req = self
            .http
            .request(method, &url)
            .bearer_auth(self.key.expose_secret());
        if let Some(b) = body {
            req = req.json(b);
        }
        let resp = req.send().await.map_err(|e| {
            CliError::upstream(format!(
                "cannot reach jiragate server at {}: {e}",
                self.base
            ))
        })?;
        let status = resp.status();
        let text = resp.text().await.unwrap_or_default();
        let value: Value = if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).unwrap_or(Value::String(text))
        };
        if status.is_success() {
            Ok(value)
        } else {
            Err(CliError::from_problem(status.as_u16(), &value))
        }
    }

    pub async fn get(&self, path: &str) -> Result<Value, CliError> {
        self.call(reqwest::Method::GET, path, None).await
    }

    pub async fn post(&self, path: &str, body: &Value) -> Result<Value, CliError> {
        self.call(reqwest::Method::POST, path, Some(body)).await
    }

    pub async fn delete(&self, path: &str) -> Result<Value, CliError> {
        self.call(reqwest::Method::DELETE, path, None).await
    }

    /// Finds a connector id by workspace and name (ids pass through).
    pub async fn connector_id(
        &self,
        id: Option<&str>,
        workspace: Option<&str>,
        name: Option<&str>,
    ) -> Result<String, CliError> {
        if let Some(id) = id {
            return Ok(id.to_string());
        }
        let name = name.ok_or_else(|| {
            CliError::usage("name a connection: --name (and --workspace) or --id")
        })?;
        let list = self.list(workspace).await?;
        let found: Vec<&Value> = list
            .as_array()
            .into_iter()
            .flatten()
            .filter(|c| c.get("name").and_then(Value::as_str) == Some(name))
            .collect();
        match found.as_slice() {
            [one] => Ok(one
                .get("id")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string()),
            [] => Err(CliError::not_found(format!(
                "no connection named '{name}' in workspace '{}'",
                workspace.unwrap_or("default")
            ))),
            _ => Err(CliError::usage(format!(
                "several connections are named '{name}'; pass --workspace or --id"
            ))),
        }
    }

    pub async fn list(&self, workspace: Option<&str>) -> Result<Value, CliError> {
        let path = match workspace {
            Some(w) => format!(
                "/api/v1/integrations/connectors?workspace_name={}",
                urlencode(w)
            ),
            None => "/api/v1/integrations/connectors".to_string(),
        };
        let v = self.get(&path).await?;
        // The list is either an array or {"data": [...]}.
        Ok(match v {
            Value::Object(mut o) if o.contains_key("data") => {
                o.remove("data").unwrap_or(Value::Null)
            }
            other => other,
        })
    }

    pub async fn execute(
        &self,
        id: &str,
        entity: &str,
        action: &str,
        params: &Value,
    ) -> Result<Value, CliError> {
        self.post(
            &format!("/api/v1/integrations/connectors/{id}/execute"),
            &json!({"entity": entity, "action": action, "params": params}),
        )
        .await
    }
}

fn urlencode(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}
