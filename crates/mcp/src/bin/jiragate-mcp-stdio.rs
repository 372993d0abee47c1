//! A minimal stdio MCP server on a local data dir, configured by environment only.
//! The product command is `jiragate mcp` (crates/cli); this binary exists so the crate's
//! integration tests and benchmark can spawn a real server process without the CLI.
//!
//! Env: JIRAGATE_DATA_DIR (required), JIRAGATE_DATABASE_URL, JIRAGATE_ATLASSIAN_AUTH_URL,
//! JIRAGATE_ATLASSIAN_API_URL, JIRAGATE_JIRA_SITE_URL, JIRAGATE_MCP_READ_ONLY=1,
//! JIRAGATE_MCP_TOOLS=core,issues, JIRAGATE_MCP_CONNECTION=name. Logs go to stderr only.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use jiragate_engine::{Engine, EngineConfig};
use jiragate_mcp::{LocalBackend, McpOptions, serve_stdio};

fn env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.trim().is_empty())
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("JIRAGATE_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .init();
    let Some(data_dir) = env("JIRAGATE_DATA_DIR") else {
        eprintln!("JIRAGATE_DATA_DIR is required");
        return ExitCode::from(2);
    };
    let mut endpoints = jiragate_engine::model::AtlassianEndpoints::default();
    if let Some(url) = env("JIRAGATE_ATLASSIAN_AUTH_URL") {
        endpoints.auth_url = url;
    }
    if let Some(url) = env("JIRAGATE_ATLASSIAN_API_URL") {
        endpoints.api_url = url;
    }
    if let Some(url) = env("JIRAGATE_JIRA_SITE_URL") {
        endpoints.site_url_template = url;
    }
    let config = EngineConfig {
        data_dir: PathBuf::from(data_dir),
        database_url: env("JIRAGATE_DATABASE_URL"),
        master_key: None,
        public_url: "http://127.0.0.1:8080".to_owned(),
        endpoints,
        allowed_upstream_hosts: env("JIRAGATE_ALLOWED_UPSTREAM_HOSTS")
            .map(|h| h.split(',').map(str::to_owned).collect())
            .unwrap_or_default(),
        instance_id: env("JIRAGATE_INSTANCE_ID"),
        migrate: true,
        background: false,
        bootstrap_admin_key: false,
        admission: Default::default(),
    };
    let (engine, _bootstrap) = match Engine::open(config).await {
        Ok(opened) => opened,
        Err(err) => {
            eprintln!("cannot open the jiragate data dir: {err}");
            return ExitCode::from(1);
        }
    };
    let opts = McpOptions {
        read_only: env("JIRAGATE_MCP_READ_ONLY").is_some_and(|v| v == "1" || v == "true"),
        tools: env("JIRAGATE_MCP_TOOLS").map(|v| vec![v]),
        default_connection: env("JIRAGATE_MCP_CONNECTION"),
    };
    let org = engine.default_org.clone();
    let backend = Arc::new(LocalBackend::new(engine, org));
    match serve_stdio(backend, opts).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("{err}");
            ExitCode::from(1)
        }
    }
}
