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
    pub fn new(base: &str, key: SecretString) -> Result<Self, CliError> {
        let http = reqwest::Client::builder()
            .timeout(std::time::Duration::from_secs(300))
            .build()
            .context("building the HTTP client")?;
        Ok(Self {
            base: server_base(base)?,
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

    /// A list endpoint's rows: the HTTP API answers `{"data": [...]}`; the CLI prints the
    /// array, as in local mode.
    pub async fn get_list(&self, path: &str) -> Result<Value, CliError> {
        Ok(unwrap_data(self.get(path).await?))
    }

    pub async fn post(&self, path: &str, body: &Value) -> Result<Value, CliError> {
        self.call(reqwest::Method::POST, path, Some(body)).await
    }

    pub async fn patch(&self, path: &str, body: &Value) -> Result<Value, CliError> {
        self.call(reqwest::Method::PATCH, path, Some(body)).await
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
        self.get_list(&path).await
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

/// The server's base URL from `--server` / `JIRAGATE_SERVER`: a loopback address without a
/// scheme gets `http://`; any other host must say `http://` or `https://`.
pub fn server_base(raw: &str) -> Result<String, CliError> {
    let s = raw.trim().trim_end_matches('/');
    if s.is_empty() {
        return Err(CliError::usage(
            "--server is empty: give a URL such as http://127.0.0.1:8080",
        ));
    }
    let with_scheme = if s.contains("://") {
        s.to_string()
    } else {
        let host = s.split(['/', '?']).next().unwrap_or(s);
        let host = match host.rsplit_once(':') {
            Some((h, port)) if port.chars().all(|c| c.is_ascii_digit()) => h,
            _ => host,
        };
        let host = host.trim_matches(['[', ']']);
        let loopback = host == "localhost"
            || host
                .parse::<std::net::IpAddr>()
                .is_ok_and(|ip| ip.is_loopback());
        if !loopback {
            return Err(CliError::usage(format!(
                "--server '{s}' has no scheme: write https://{s} (or http://{s} on a trusted network)"
            )));
        }
        format!("http://{s}")
    };
    let url = url::Url::parse(&with_scheme)
        .map_err(|e| CliError::usage(format!("--server '{s}' is not a URL: {e}")))?;
    if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
        return Err(CliError::usage(format!(
            "--server '{s}': expected http://host:port or https://host"
        )));
    }
    Ok(with_scheme)
}

/// `{"data": [...]}` → `[...]`; anything else as it is.
pub fn unwrap_data(v: Value) -> Value {
    match v {
        Value::Object(mut o) if o.get("data").is_some_and(Value::is_array) => {
            o.remove("data").unwrap_or(Value::Null)
        }
        other => other,
    }
}

fn urlencode(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

#[cfg(test)]
mod tests {
    use super::server_base;

    #[test]
    fn server_without_scheme_is_http_on_loopback_and_refused_elsewhere() {
        assert_eq!(
            server_base("127.0.0.1:8080").unwrap(),
            "http://127.0.0.1:8080"
        );
        assert_eq!(server_base("localhost:9/").unwrap(), "http://localhost:9");
        assert_eq!(server_base("[::1]:8080").unwrap(), "http://[::1]:8080");
        assert_eq!(
            server_base("https://j.example.com/").unwrap(),
            "https://j.example.com"
        );
        let e = server_base("j.example.com:8080").unwrap_err();
        assert!(
            e.message.contains("no scheme") && e.message.contains("https://j.example.com:8080"),
            "{e}"
        );
        assert!(server_base("ftp://x").is_err());
    }
}
